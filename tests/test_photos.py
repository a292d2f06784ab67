"""The photo dataset reader: one folder per class through the runtime's `preprocess`, mapped to labels,
broken photos listed and skipped, results cached by content and preprocessing version."""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest
from photo_tree import make_tree, photo

from fmnist.core.errors import DataError, UsageError
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.photo_set import load_photos
from fmnist.runtime import cutout as prep
from fmnist.runtime.image import read_image


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "photos", per_class=4, broken=True)


def test_reads_every_photo_and_lists_the_broken_ones(tree, tmp_path):
    photos = load_photos(tree, cache=tmp_path / "cache")
    assert photos.folders == ("hat", "longsleeve", "pants", "t-shirt")  # sorted
    assert len(photos) == 16 and photos.images.shape == (16, 28, 28) and photos.images.dtype == np.uint8
    assert np.bincount(photos.folder_index).tolist() == [4, 4, 4, 4]
    skipped = {path.name: why for path, why in photos.skipped}
    assert set(skipped) == {"truncated.jpg", "empty.jpg"}
    assert "not an image" in skipped["truncated.jpg"] and "empty file" in skipped["empty.jpg"]
    assert not photos.empty.any()  # every synthetic garment is found
    # each photo's sha256, read once here, is what the labels by eye are found by
    assert photos.digests == [hashlib.sha256(p.read_bytes()).hexdigest() for p in photos.paths]


def test_every_photo_goes_through_the_runtime_preprocess(tree, tmp_path, monkeypatch):
    calls = []
    real = prep.preprocess

    def spy(image):
        calls.append(image.shape)
        return real(image)

    monkeypatch.setattr(prep, "preprocess", spy)
    photos = load_photos(tree, use_cache=False)
    assert len(calls) == len(photos) == 16
    for i in (0, 7, 15):  # the same arrays classify would feed the model
        assert np.array_equal(photos.images[i], real(read_image(photos.paths[i])).image)


def test_cache_hits_on_a_second_run_and_misses_after_a_version_change(tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = load_photos(tree, cache=cache)
    assert first.cache_hits == 0
    calls = []
    real = prep.preprocess
    monkeypatch.setattr(prep, "preprocess", lambda image: calls.append(1) or real(image))
    second = load_photos(tree, cache=cache)
    assert second.cache_hits == 16 and not calls
    assert np.array_equal(first.images, second.images) and np.array_equal(first.empty, second.empty)
    monkeypatch.setattr(prep.CutOut, "version", "test-next")  # the cut-out changed: every entry is stale
    third = load_photos(tree, cache=cache)
    assert third.cache_hits == 0 and len(calls) == 16
    assert np.array_equal(first.images, third.images)


def test_the_cache_is_keyed_by_content_not_by_name(tree, tmp_path):
    cache = tmp_path / "cache"
    load_photos(tree, cache=cache)
    cv2.imwrite(str(tree / "pants" / "0.jpg"), photo("pants", 999))  # new content under an old name: a miss
    assert load_photos(tree, cache=cache).cache_hits == 15
    (tree / "pants" / "1.jpg").write_bytes((tree / "hat" / "0.jpg").read_bytes())  # known content: a hit
    again = load_photos(tree, cache=cache)
    assert again.cache_hits == 16
    copied, hat = again.paths.index(tree / "pants" / "1.jpg"), again.paths.index(tree / "hat" / "0.jpg")
    assert np.array_equal(again.images[copied], again.images[hat])


def test_default_map_follows_the_photo_sets_readme():
    pmap = PhotoMap.load()
    assert pmap.accepted["longsleeve"] == (2, 0, 6)  # Pullover first (strict), T-shirt/top and Shirt lenient
    assert pmap.accepted["shoes"] == (5, 7, 9) and pmap.accepted["t-shirt"] == (0,)
    assert pmap.accepted["hat"] == pmap.accepted["shorts"] == pmap.accepted["skirt"] == ()
    assert pmap.mapped("pants") and not pmap.mapped("hat")


def test_custom_map_unknown_folders_and_bad_labels(tree, tmp_path):
    custom = tmp_path / "map.json"
    custom.write_text(json.dumps({"hat": [], "longsleeve": ["Shirt", 2], "pants": ["Trouser"]}))
    pmap = PhotoMap.load(custom)
    assert pmap.accepted["longsleeve"] == (6, 2)
    with pytest.raises(UsageError, match=r"t-shirt are not in the photo map .*--photo-map"):
        pmap.check(("hat", "longsleeve", "pants", "t-shirt"))
    custom.write_text(json.dumps({"hat": ["Beret"]}))
    with pytest.raises(UsageError, match="unknown label 'Beret'"):
        PhotoMap.load(custom)
    custom.write_text("{not json")
    with pytest.raises(UsageError, match="cannot read the photo map"):
        PhotoMap.load(custom)


def test_a_folder_without_class_folders_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_photos(tmp_path / "nope")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="no class subfolders"):
        load_photos(tmp_path / "flat")
