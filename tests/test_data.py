from __future__ import annotations

import gzip

import numpy as np
import pytest
from idx_files import copy_real, write_idx

from fmnist.core.errors import DataError
from fmnist.data import fashion


def test_real_dataset_loads_with_balanced_classes(real_data_dir):
    train, test = fashion.load(real_data_dir)
    assert train.images.shape == (60_000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10_000, 28, 28) and test.labels.shape == (10_000,)
    assert fashion.class_counts(train.labels).tolist() == [6000] * 10
    assert fashion.class_counts(test.labels).tolist() == [1000] * 10
    # Fashion-MNIST is bright objects on black: the border is mostly dark
    assert train.images[:, 0, :].mean() * 4 < train.images[:, 10:18, 10:18].mean()


def test_explicit_folder_wins_and_must_be_complete(tmp_path, monkeypatch):
    copy_real(tmp_path / "mine")
    assert fashion.locate(tmp_path / "mine").source == "--data-dir"
    monkeypatch.setenv(fashion.ENV_VAR, str(tmp_path / "mine"))
    assert fashion.locate() == fashion.Location(tmp_path / "mine", "$FMNIST_DATA")

    (tmp_path / "mine" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"lacks t10k-labels-idx1-ubyte.*fmnist data fetch --dest"):
        fashion.locate()
    with pytest.raises(DataError, match=r"does not exist"):
        fashion.locate(tmp_path / "nowhere")


def test_keras_cache_is_searched_after_the_debian_folder(tmp_path, monkeypatch, real_data_dir):
    monkeypatch.setattr(fashion, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(DataError, match=r"apt-get install dataset-fashion-mnist.*fmnist data fetch"):
        fashion.locate()
    copy_real(tmp_path / "keras" / "datasets" / "fashion-mnist", real_data_dir)
    assert fashion.locate().source == "Keras cache"


def test_plain_uncompressed_files_are_read(tmp_path, real_data_dir):
    for name in fashion.FILES:
        raw = gzip.decompress(fashion.find_file(real_data_dir, name).read_bytes())
        (tmp_path / name).write_bytes(raw)
    test = fashion.load_split("test", tmp_path)
    assert test.images.shape == (10_000, 28, 28)


@pytest.fixture
def broken(tmp_path):
    """A real copy whose test labels the test then replaces."""
    folder = copy_real(tmp_path / "data")
    labels = fashion.load_split("test", folder).labels.copy()
    return folder, folder / "t10k-labels-idx1-ubyte.gz", labels


def test_wrong_magic_is_named(broken):
    folder, path, labels = broken
    write_idx(path, labels, magic=0x0803)
    with pytest.raises(DataError, match=r"t10k-labels.*magic number 0x00000803, expected 0x00000801.*reinstall"):
        fashion.load_split("test", folder)


def test_truncated_gzip_is_named(broken):
    folder = broken[0]
    images = folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[: images.stat().st_size // 2])
    with pytest.raises(DataError, match=r"t10k-images.*truncated or not a valid gzip.*fmnist data fetch"):
        fashion.load_split("test", folder)


def test_wrong_count_is_named(broken):
    folder, path, labels = broken
    write_idx(path, labels[:9999])
    with pytest.raises(DataError, match=r"t10k-labels.*holds 9999 items, expected 10000"):
        fashion.load_split("test", folder)


def test_label_out_of_range_is_named(broken):
    folder, path, labels = broken
    labels[1234] = 11
    write_idx(path, labels)
    with pytest.raises(DataError, match=r"t10k-labels.*label 11 at index 1234, outside 0..9"):
        fashion.load_split("test", folder)


def test_header_promising_more_than_the_file_holds(broken):
    folder, path, _ = broken
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(DataError, match=r"holds 9990 bytes of data but its header \(10000,\) needs 10000"):
        fashion.load_split("test", folder)


def test_wrong_image_size_is_named(tmp_path):
    path = write_idx(tmp_path / "x.gz", np.zeros((5, 32, 32), np.uint8))
    with pytest.raises(DataError, match=r"32x32 images, expected 28x28"):
        fashion.read_idx(path, fashion.IMAGES_MAGIC)


def test_unreadable_path_is_a_data_error(tmp_path):
    (tmp_path / "is-a-dir").mkdir()
    with pytest.raises(DataError, match=r"cannot read .*is-a-dir"):
        fashion.read_idx(tmp_path / "is-a-dir", fashion.LABELS_MAGIC)


def test_a_file_rewritten_in_place_is_read_anew_and_its_array_cannot_be_changed(tmp_path):
    """read_idx parses the same bytes once a process: a file rewritten since, at the same size and within the
    same clock tick (its stat alone could not tell), gives its new content; the shared array is read-only."""
    path = tmp_path / "labels.gz"
    for value in (1, 2, 1):
        write_idx(path, np.full(6, value, np.uint8))
        labels = fashion.read_idx(path, fashion.LABELS_MAGIC, 6)
        assert labels.tolist() == [value] * 6
        with pytest.raises(ValueError, match="read-only"):
            labels[0] = 9
        assert fashion.read_idx(path, fashion.LABELS_MAGIC, 6) is labels  # the same bytes: parsed once
