"""fmnist.runtime: the Classifier on the shipped models, and the photo preprocessing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fmnist.core.errors import ModelError, UsageError
from fmnist.core.meta import CLASS_NAMES
from fmnist.data import fashion
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.cutout import preprocess
from fmnist.runtime.image import ImageError, read_image, to_bgr8
from fmnist.runtime.preparation import CUTOUT
from fmnist.runtime.shipped import resolve

PHOTO = "examples/photos/pants.jpg"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    """The shipped edge model: the cut-out's (the default, photo, is tested in test_shipped_photos, and on the test
    images written as photos through fmnist bench in test_bench)."""
    return Classifier("edge")


@pytest.fixture(scope="module")
def test_split():
    return fashion.load_split("test")


def test_shipped_model_reaches_its_recorded_accuracy(classifier, test_split):
    probs = classifier.predict(test_split.images)  # (N, 28, 28) uint8 in
    accuracy = float((probs.argmax(1) == test_split.labels).mean())
    assert classifier.meta is not None and classifier.labels == list(CLASS_NAMES)
    assert round(accuracy, 4) >= classifier.meta.parity["accuracy"] >= 0.90


def test_predict_takes_uint8_and_float_alike(classifier, test_split):
    images = test_split.images[:16]
    as_uint8 = classifier.predict(images)
    as_float = classifier.predict(CUTOUT.to_input(images))
    np.testing.assert_allclose(as_uint8, as_float, atol=1e-6)
    assert as_uint8.shape == (16, 10)
    with pytest.raises(ModelError, match=r"\(N, 28, 28\) uint8"):
        classifier.predict(np.zeros((2, 32, 32), np.uint8))


def _canvas_photo(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A Fashion-MNIST image made photo-like: un-inverted, upscaled, on a white canvas with a margin and noise."""
    photo = 255 - cv2.resize(image, (224, 224), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((320, 300), 255, np.uint8)
    canvas[40:264, 38:262] = photo
    noisy = np.clip(canvas.astype(np.float32) + rng.normal(0, 4, canvas.shape), 0, 255).astype(np.uint8)
    return cv2.cvtColor(noisy, cv2.COLOR_GRAY2BGR)


@pytest.mark.slow
def test_round_trip_keeps_the_prediction(classifier, test_split):
    rng = np.random.default_rng(0)
    picked = rng.choice(len(test_split.images), 500, replace=False)
    originals = test_split.images[picked]
    prepared = np.stack([preprocess(_canvas_photo(image, rng)).image for image in originals])
    errors = np.abs(prepared.astype(np.float32) - originals).mean(axis=(1, 2))
    assert np.median(errors) < 20  # close to the original, pixel for pixel
    same = classifier.predict(prepared).argmax(1) == classifier.predict(originals).argmax(1)
    assert same.mean() >= 0.95


def _exif_rotated_jpeg(upright: np.ndarray) -> bytes:
    """The photo stored turned 90° counter-clockwise, with EXIF Orientation 6 (display turned clockwise)."""
    ok, jpeg = cv2.imencode(".jpg", cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE), [cv2.IMWRITE_JPEG_QUALITY, 98])
    assert ok
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00" + b"\0" * 4
    app1 = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1
    return jpeg.tobytes()[:2] + segment + jpeg.tobytes()[2:]


def test_exif_rotated_photo_matches_its_upright_twin(classifier, tmp_path):
    upright = read_image(PHOTO)
    (tmp_path / "upright.jpg").write_bytes(cv2.imencode(".jpg", upright, [cv2.IMWRITE_JPEG_QUALITY, 98])[1].tobytes())
    (tmp_path / "rotated.jpg").write_bytes(_exif_rotated_jpeg(upright))
    a, b = read_image(tmp_path / "upright.jpg"), read_image(tmp_path / "rotated.jpg")
    assert a.shape == b.shape == upright.shape  # the rotation was applied on decoding
    assert classifier.classify(a).best.index == classifier.classify(b).best.index


def test_rgba_photo_matches_its_rgb_twin_composited_on_white(classifier, tmp_path):
    rgb = read_image(PHOTO)
    rgba = cv2.cvtColor(rgb, cv2.COLOR_BGR2BGRA)
    rgba[:40], rgba[:40, :, :3] = 0, (0, 0, 255)  # a transparent strip, red underneath
    twin = rgb.copy()
    twin[:40] = 255  # what it looks like on white
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    decoded = read_image(tmp_path / "alpha.png")
    assert decoded.shape[2] == 4
    np.testing.assert_array_equal(to_bgr8(decoded), twin)
    assert classifier.classify(decoded).best.index == classifier.classify(twin).best.index


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_deep_and_grey_inputs_give_the_8_bit_result(classifier, dtype):
    bgr = read_image(PHOTO)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    scale = 257 if dtype == np.uint16 else 1 / 255
    deep = (grey.astype(np.float64) * scale).astype(dtype)
    assert preprocess(deep).image.shape == (28, 28)
    assert classifier.classify(deep).best.index == classifier.classify(grey).best.index


def test_white_on_white_is_flagged_low_contrast():
    photo = np.full((200, 160, 3), 246, np.uint8)
    cv2.rectangle(photo, (40, 30), (120, 170), (238, 238, 238), cv2.FILLED)  # a white shirt on a white sheet
    assert preprocess(photo).low_contrast
    bold = np.full((200, 160, 3), 246, np.uint8)
    cv2.rectangle(bold, (40, 30), (120, 170), (40, 40, 40), cv2.FILLED)
    assert not preprocess(bold).low_contrast


def test_the_largest_object_wins_over_clutter():
    photo = np.full((240, 240, 3), 230, np.uint8)
    cv2.rectangle(photo, (60, 40), (180, 220), (30, 30, 30), cv2.FILLED)  # the garment
    cv2.circle(photo, (25, 25), 10, (0, 0, 200), cv2.FILLED)  # a small red thing in a corner
    prepared = preprocess(photo)
    x, y, w, h = prepared.box
    assert 55 <= x <= 65 and 35 <= y <= 45 and 110 <= w <= 130 and 170 <= h <= 190
    assert prepared.image[:, 13:15].min() > 100  # tall object: it spans the full height, centred


def _tiles(size: int = 240, tile: int = 30) -> np.ndarray:
    """A tiled floor: light and mid-grey squares with dark grout, so the border's spread is wide."""
    floor = np.zeros((size, size, 3), np.uint8)
    for y in range(0, size, tile):
        for x in range(0, size, tile):
            floor[y : y + tile, x : x + tile] = (205, 200, 190) if (x + y) // tile % 2 else (150, 150, 145)
    floor[::tile], floor[:, ::tile] = 60, 60
    return floor


def test_a_garment_touching_a_textured_ground_is_found():
    """The hat sample: its wooden floor spreads too wide to seed from (preprocessing version 1 found nothing);
    the rectangle-initialised GrabCut finds the hat in the middle of the photo."""
    prepared = preprocess(read_image("examples/photos/hat.jpg"))  # 400 x 711
    x, y, w, h = prepared.box  # the hat sits in the middle third, left to right too
    assert not prepared.empty and not prepared.low_contrast
    assert 0.2 < w * h / (400 * 711) < 0.6 and 150 < y + h / 2 < 550 and 100 < x + w / 2 < 300


@pytest.mark.parametrize("scene", ["noise", "tiles"])
def test_a_frame_with_nothing_on_it_stays_empty(scene):
    rng = np.random.default_rng(0)
    noise = np.clip(rng.normal(180, 12, (240, 320, 3)), 0, 255).astype(np.uint8)
    assert preprocess(noise if scene == "noise" else _tiles()).empty


def test_a_one_colour_picture_is_what_grabcut_makes_of_it_without_running_grabcut(monkeypatch):
    """A one-colour picture gives GrabCut's own answer (the whole frame, contrast 0: nothing found) without running
    it: GrabCut took 1.5-3 s on grey 150 at 120x120 (classify's work size), 4-5 s on grey 90 or red at 144x144 (live's
    with its margin), 23 s at 200x200. One pixel of another colour, in one channel, still goes through GrabCut."""
    from fmnist.runtime import cutout

    for fast in (np.full((120, 120, 3), 90, np.uint8), np.full((144, 144, 3), 0, np.uint8)):  # GrabCut is quick
        with monkeypatch.context() as both:  # both GrabCuts, as before any shortcut
            both.setattr(cutout, "_may_stand_out", lambda distance: True)
            by_grabcut = cutout._segmented(fast)
        shortcut = cutout.segment(fast)
        assert np.array_equal(shortcut.mask, by_grabcut.mask) and shortcut.mask.dtype == by_grabcut.mask.dtype
        assert shortcut.contrast == by_grabcut.contrast and not shortcut.found and not by_grabcut.found
    calls: list[int] = []
    grabcut = cv2.grabCut
    monkeypatch.setattr(cutout.cv2, "grabCut", lambda *a: calls.append(1) or grabcut(*a))
    for shape, colour in (((120, 120), 150), ((144, 144), 90), ((144, 144), (0, 0, 255)), ((144, 100), 200),
                          ((1, 1), 7), ((200, 200), 90)):
        got = cutout.segment(np.full((*shape, 3), colour, np.uint8))
        assert not got.found and got.contrast == 0.0 and got.mask.shape == shape and got.mask.all()
    assert calls == []
    assert preprocess(np.full((480, 640, 3), 90, np.uint8)).empty
    one_off = np.full((144, 144, 3), 90, np.uint8)
    one_off[70, 70, 2] = 91
    cutout.segment(one_off)
    assert calls


def test_the_rectangle_s_grabcut_is_asked_only_when_its_answer_could_count():
    """`_may_stand_out` is a bound, not a guess: with as many far pixels as it allows, the smallest mask `_found`
    takes, holding all of them and the rest a hair under MIN_CONTRAST, still falls short of it; one far pixel more
    and it reaches it, and the bound lets GrabCut run."""
    from fmnist.runtime import cutout

    for shape in ((120, 120), (144, 144), (144, 108), (200, 200), (111, 100)):  # 111x100: a limit of exactly 11
        size = shape[0] * shape[1]
        n = next(n for n in range(size) if cutout._found(np.arange(size).reshape(shape) < n))  # the smallest mask
        mask = (np.arange(size) < n).reshape(shape).astype(np.uint8)
        allowed = int(0.1 * (int(cutout.MIN_AREA * size) - 1))
        for far, stands_out in ((allowed, False), (allowed + 1, True)):
            distance = np.where(np.arange(size) < far, 441.0, cutout.MIN_CONTRAST - 2e-3).reshape(shape)
            assert cutout._may_stand_out(distance.astype(np.float32)) == stands_out
            assert (cutout._contrast(distance, mask) >= cutout.MIN_CONTRAST) == stands_out
    grid = np.zeros((144, 144, 3), np.uint8)  # lines exactly MIN_CONTRAST from the black ground: the bound's edge
    for k in range(20, 124, 8):
        grid[20:124, k : k + 2] = grid[k : k + 2, 20:124] = (0, 0, int(cutout.MIN_CONTRAST))
    found = cutout.segment(grid)  # the seeded mask fails; the rectangle's GrabCut finds it
    assert found.found and found.contrast == cutout.MIN_CONTRAST


@pytest.mark.slow  # the reference runs the rectangle GrabCut on each frame: 2 s
def test_a_dark_frame_with_hot_pixels_is_what_grabcut_makes_of_it_without_the_rectangle_s_grabcut(monkeypatch):
    """A covered camera's frame (black, a few hot pixels) or a plain noisy one: the Segment is the one the full path
    gives, where the full path is quick (120x120, 144x108); at 144x144, where it took 4-5 s on the hot pixels, the
    rectangle's GrabCut, whose answer could not count there, is not asked."""
    from fmnist.runtime import cutout

    rng = np.random.default_rng(1)
    quick = [np.clip(np.full((144, 144, 3), 90.0) + rng.normal(0, 2, (144, 144, 3)), 0, 255).astype(np.uint8),
             np.clip(np.abs(rng.normal(0, 3, (144, 144, 3))), 0, 255).astype(np.uint8)]
    for shape in ((120, 120), (108, 144)):
        for hot in (5, 20):
            quick.append(_hot_pixels(shape, hot, rng, band=3))
    bounded = [cutout.segment(picture) for picture in quick]
    monkeypatch.setattr(cutout, "_may_stand_out", lambda distance: True)  # the full path, as before the bound
    for picture, got in zip(quick, bounded, strict=True):
        full = cutout.segment(picture)
        assert np.array_equal(got.mask, full.mask) and got.contrast == full.contrast and not got.found
    monkeypatch.undo()
    framed: list[int] = []
    rectangle = cutout._framed_mask
    monkeypatch.setattr(cutout, "_framed_mask", lambda small: framed.append(1) or rectangle(small))
    for hot in (5, 20):  # a hot pixel in the outer band still costs the seeded GrabCut seconds: none there
        assert not cutout.segment(_hot_pixels((144, 144), hot, rng, band=3)).found
    assert framed == []


def _hot_pixels(shape: tuple[int, int], hot: int, rng: np.random.Generator, band: int) -> np.ndarray:
    """A black frame with `hot` white pixels, none in the outer `band` pixels."""
    frame = np.zeros((*shape, 3), np.uint8)
    frame[rng.integers(band, shape[0] - band, hot), rng.integers(band, shape[1] - band, hot)] = 255
    return frame


def test_classifier_refuses_models_it_cannot_trust(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    bare = onnx.load(str(resolve("edge")))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(ModelError, match=r"no fmnist metadata.*--labels"):
        Classifier(tmp_path / "bare.onnx")
    assert Classifier(tmp_path / "bare.onnx", labels=[f"c{i}" for i in range(10)]).labels[3] == "c3"
    with pytest.raises(UsageError, match=r"--labels gives 3 names, and bare\.onnx has 10 outputs: give 10"):
        Classifier(tmp_path / "bare.onnx", labels=["a", "b", "c"])  # the user's names are at fault: exit 2
    renamed = Classifier("edge", labels=[f"c{i}" for i in range(10)])  # a model with its own: said, not silent
    assert renamed.note is not None and "--labels replaces the model's own labels (T-shirt/top, Trouser" in renamed.note

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 32, 32])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(tmp_path / "other.onnx"))
    with pytest.raises(ModelError, match=r"takes .*\[1, 3, 32, 32\].*\(batch, 28, 28, 1\)"):
        Classifier(tmp_path / "other.onnx", labels=[f"c{i}" for i in range(10)])
    with pytest.raises(ModelError, match=r"runs \.onnx models"):
        Classifier(tmp_path / "model.tflite")


def test_unusable_arrays_are_image_errors():
    with pytest.raises(ImageError):
        preprocess(np.zeros((0, 10), np.uint8))
    with pytest.raises(ImageError):
        preprocess(np.zeros((10, 10, 2), np.uint8))
