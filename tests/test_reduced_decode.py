"""A JPEG is decoded once, at the smallest of libjpeg's scales that still covers the model's input (the photo tier's
crop); the cut-out, other formats and deeper pictures are decoded at full size, EXIF orientation and alpha kept."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fmnist.runtime import image as image_module
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.crop import CentreCrop
from fmnist.runtime.image import ImageError, read_image, read_image_bytes
from fmnist.runtime.preparation import CUTOUT
from tests.test_runtime import _exif_rotated_jpeg

ROOT = Path(__file__).resolve().parents[1]
PANTS = ROOT / "examples" / "photos" / "pants.jpg"  # 400x533
CROP = CentreCrop(160)


def _phone_size(tmp_path: Path, name: str = "phone.jpg") -> Path:
    """pants.jpg at a phone photo's size, 1000x1333."""
    big = cv2.resize(cv2.imread(str(PANTS)), (1000, 1333), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / name
    path.write_bytes(cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes())
    return path


def test_a_phone_photo_is_decoded_once_at_a_quarter_for_the_crop(tmp_path, monkeypatch):
    path = _phone_size(tmp_path)
    flags = []
    real = cv2.imdecode
    monkeypatch.setattr(image_module.cv2, "imdecode", lambda buf, flag: flags.append(flag) or real(buf, flag))
    small = read_image(path, CROP.enough())
    assert flags == [cv2.IMREAD_REDUCED_COLOR_4]  # once: 250 px is 1.56x the model's 160, 125 px would not do
    assert small.shape == (334, 250, 3)  # libjpeg rounds each side up
    full = read_image(path)
    assert full.shape == (1333, 1000, 3)
    # what the model sees from either is the same picture, within the JPEG's own noise
    a, b = CROP.prepare(small).image.astype(np.int16), CROP.prepare(full).image.astype(np.int16)
    assert np.abs(a - b).mean() < 3


def test_the_photo_model_gives_the_full_decodes_label(tmp_path):
    path = _phone_size(tmp_path)
    photo = Classifier("photo")
    reduced, full = photo.classify(read_image(path, photo.preparation.enough())), photo.classify(read_image(path))
    assert reduced.best.label == full.best.label == "Trouser"
    assert abs(reduced.best.score - full.best.score) < 0.05


def test_a_photo_just_above_the_models_input_is_read_whole():
    # 400 px short side: 1/2 would leave 200 px, 1.25x the model's 160, under the 1.5x an area shrink needs
    assert read_image(PANTS, CROP.enough()).shape == read_image(PANTS).shape == (533, 400, 3)


def test_exif_orientation_is_applied_at_the_reduced_scale(tmp_path):
    upright = read_image(_phone_size(tmp_path))
    (tmp_path / "upright.jpg").write_bytes(cv2.imencode(".jpg", upright, [cv2.IMWRITE_JPEG_QUALITY, 98])[1].tobytes())
    (tmp_path / "rotated.jpg").write_bytes(_exif_rotated_jpeg(upright))
    a, b = read_image(tmp_path / "upright.jpg", CROP.enough()), read_image(tmp_path / "rotated.jpg", CROP.enough())
    assert a.shape == b.shape == (334, 250, 3)  # stored 1333 wide, turned upright while decoding
    assert np.abs(a.astype(np.int16) - b).mean() < 4


def test_a_png_keeps_its_size_and_alpha(tmp_path):
    rgba = cv2.cvtColor(cv2.resize(cv2.imread(str(PANTS)), (1000, 1333)), cv2.COLOR_BGR2BGRA)
    rgba[:100, :, 3] = 0
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    decoded = read_image(tmp_path / "alpha.png", CROP.enough())
    assert decoded.shape == (1333, 1000, 4)  # libpng has no reduced decode: OpenCV's would drop alpha and resize


def test_the_cut_out_reads_whole_unless_raw(tmp_path):
    path = _phone_size(tmp_path)
    assert read_image(path, CUTOUT.enough()).shape == (1333, 1000, 3)  # its segmentation needs the full decode
    assert read_image(path, CUTOUT.enough(raw=True)).shape == (167, 125, 3)  # raw: resized to 28x28 grey


def test_a_truncated_big_jpeg_is_still_refused(tmp_path):
    data = _phone_size(tmp_path).read_bytes()
    with pytest.raises(ImageError, match="not an image OpenCV can decode"):
        read_image_bytes(data[: len(data) // 2], "half.jpg", CROP.enough())


def test_classify_reads_as_the_evaluation_does(tmp_path):
    """classify and the photo sets (evaluate, training) read a photo the same way, so their figures agree."""
    from fmnist.evaluation.photo_set import load_photos

    (tmp_path / "pants").mkdir()
    path = _phone_size(tmp_path / "pants")
    photo = Classifier("photo")
    photos = load_photos(tmp_path, preparation=photo.preparation, use_cache=False)
    expected = photo.preparation.prepare(read_image(path, photo.preparation.enough())).image
    np.testing.assert_array_equal(photos.images[0], expected)
