"""The cut-out kind (`CutOut`): photo -> what Fashion-MNIST looks like, the object bright on black, cropped
tight on its long axis, centred and padded to 28x28. The Fashion-MNIST models and the 28x28 own-label tier;
`classify`, `live` and training all call `preprocess` through it.

It follows how the dataset was made (Xiao et al. 2017): trim the background, resize the long edge to 28,
sharpen, pad the short edge, negate. A photo adds what a studio thumbnail does not have: EXIF rotation,
alpha, 16-bit or grey pixels, uneven light, a textured background and clutter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from fmnist.core.meta import IMAGE_SIZE, INPUT_BASE
from fmnist.runtime.frame_path import Change, DriftRule, SegmentingFrames
from fmnist.runtime.image import Prepared, Shrunk, shrink, to_bgr8
from fmnist.runtime.kind import Preparation, per_value

# Bump when `preprocess` changes what it returns for a photo. The photo cache (fmnist.evaluation.photo_set)
# is keyed on it, and a model records the version it was trained for (its metadata).
PREPROCESS_VERSION = "2"
WORK_SIZE = 120  # long side the photo is reduced to before segmentation (GrabCut time grows fast with it)
GRABCUT_ITERATIONS = 2
SEED_MIN_DISTANCE = 8.0  # BGR distance a pixel must differ from the background by to seed the object
SEED_NOISE_FACTOR = 3.0
LIFT = 128.0  # a faint (light) object is brightened until its 99th percentile reaches this
MIN_CONTRAST = 40.0  # object-vs-background distance (BGR, 0-441) below which the result is flagged
MIN_AREA = 0.01  # an object smaller than this share of the picture is a speck: nothing there
MAX_AREA = 0.95  # an object covering more than this share of the picture is the picture itself: nothing there
RECT_MARGIN = 0.06  # the fallback's "object is inside" rectangle leaves this share of each side as background
# The live scene rule: a 48 px grey thumbnail (blurred by 1 px), aligned on the drift a handheld camera gives; more
# than 2 % of its pixels still off by more than 24 grey levels: another scene.
SCENE_RULE = DriftRule(side=48, level=24, share=0.02)


def _border(image: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate([image[:width].reshape(-1, 3), image[-width:].reshape(-1, 3),
                           image[:, :width].reshape(-1, 3), image[:, -width:].reshape(-1, 3)])


def _largest_filled(mask: np.ndarray) -> np.ndarray:
    """The largest connected component, its holes filled (a garment's flat areas can match the background)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.ones_like(mask)  # nothing stands out: use the whole frame
    largest = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    contours, _ = cv2.findContours(largest, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(largest)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled


def _grabcut(small: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Refine a rough mask with GrabCut; the outermost pixels are background for sure."""
    trimap = np.where(seed > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    edge = max(1, min(small.shape[:2]) // 50)
    trimap[:edge], trimap[-edge:], trimap[:, :edge], trimap[:, -edge:] = (cv2.GC_BGD,) * 4
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut seeds its colour models with k-means on OpenCV's RNG: same photo, same mask
    try:
        cv2.grabCut(small, trimap, None, *models, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # a degenerate seed (all one class): keep it
        return seed
    return np.isin(trimap, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)


def _seeded_mask(small: np.ndarray, distance: np.ndarray, border: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Seed the object where it differs from the border more than the border's own spread; GrabCut refines it."""
    # above the border's own spread (noise, texture, shading): keeps an object's faint parts on a plain ground
    noise = np.percentile(np.linalg.norm(border - background, axis=1), 90)
    seed = (distance > max(SEED_MIN_DISTANCE, SEED_NOISE_FACTOR * noise)).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    seed = cv2.morphologyEx(cv2.morphologyEx(seed, cv2.MORPH_CLOSE, kernel), cv2.MORPH_OPEN, kernel)
    return _largest_filled(_grabcut(small, _largest_filled(seed)))


def _framed_mask(small: np.ndarray) -> np.ndarray:
    """GrabCut from a rectangle: the object is inside, the margin is background. For a textured ground or a
    garment touching the border, where the border's spread is too wide to seed from."""
    h, w = small.shape[:2]
    seed = np.zeros((h, w), np.uint8)
    dy, dx = max(1, round(h * RECT_MARGIN)), max(1, round(w * RECT_MARGIN))
    seed[dy : h - dy, dx : w - dx] = 1
    return _largest_filled(_grabcut(small, seed))


def _found(mask: np.ndarray) -> bool:
    return MIN_AREA <= mask.mean() <= MAX_AREA


@dataclass(frozen=True)
class Segment:
    """Where the object is in a work-size picture, and how strongly it stands out (BGR distance, 0-441)."""

    mask: np.ndarray  # (h, w) uint8, 1 on the object
    contrast: float

    @property
    def found(self) -> bool:
        return _found(self.mask)


def segment(small: np.ndarray) -> Segment:
    """The largest object that differs from the border's colour, and that difference.

    Plain BGR distance: on the photo set it segmented as well as Lab, and Lab's first use costs ~90 ms.
    When seeding finds nothing, a rectangle-initialised GrabCut tries again; its object counts only if it
    stands out clearly (MIN_CONTRAST), so a blank or noisy frame stays empty. A picture of one colour (a flat
    card, a uniform test frame) is that empty result at once, without GrabCut: it gives the same, but took seconds
    on many (1.5-3 s for a fifth of the grey levels at 120x120, 4-5 s for most at live's 144x144, 23 s at 200x200;
    docs/live.md).
    """
    if small.ndim == 3 and not (small != small[0, 0]).any():
        return Segment(np.ones(small.shape[:2], np.uint8), 0.0)
    return _segmented(small)


def _segmented(small: np.ndarray) -> Segment:
    """`segment` by seeding and GrabCut."""
    pixels = small.astype(np.float32)
    border = _border(pixels, max(2, min(small.shape[:2]) // 25))
    background = np.median(border, axis=0)  # the dataset trimmed against its "corner pixels"
    distance = np.linalg.norm(pixels - background, axis=2)
    mask = _seeded_mask(small, distance, border, background)
    if not _found(mask) and _may_stand_out(distance):
        framed = _framed_mask(small)
        contrast = _contrast(distance, framed)
        if _found(framed) and contrast >= MIN_CONTRAST:
            return Segment(framed, contrast)
    return Segment(mask, _contrast(distance, mask))


def _may_stand_out(distance: np.ndarray) -> bool:
    """Could some mask that `_found` takes stand out by MIN_CONTRAST (_contrast: its pixels' 90th percentile
    distance)? Only if enough of its pixels are that far from the background: for a mask of n pixels, numpy's
    interpolated 90th percentile reaches a value only when more than 0.1 * (n - 1) of them do.
    When the whole picture holds no more than that many for the smallest mask `_found` takes, GrabCut's answer would
    be refused whatever it is, so it is not asked: the same Segment, without the seconds GrabCut spends on a picture
    flat but for a few pixels (4-5 s at 144x144 for a dark frame with hot pixels; docs/live.md). Counted a hair
    below MIN_CONTRAST, so that rounding in the percentile cannot tip it."""
    smallest = int(MIN_AREA * distance.size)  # rounded down: the bound only loosens
    return np.count_nonzero(distance >= MIN_CONTRAST - 1e-3) > 0.1 * (smallest - 1)


def _contrast(distance: np.ndarray, mask: np.ndarray) -> float:
    """How strongly the object stands out from the background, at its most (90th percentile)."""
    return float(np.percentile(distance[mask > 0], 90)) if mask.any() else 0.0


def fit_28(gray: np.ndarray) -> np.ndarray:
    """Resize the long edge to 28 (area), sharpen like the dataset, pad the short edge centred with 0."""
    h, w = gray.shape
    scale = 28.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    sharp = np.clip(small + 0.6 * (small - cv2.GaussianBlur(small, (0, 0), 1.0)), 0, 255)
    out = np.zeros((28, 28), np.uint8)
    y, x = (28 - size[1]) // 2, (28 - size[0]) // 2
    out[y : y + size[1], x : x + size[0]] = (sharp + 0.5).astype(np.uint8)
    return out


def render(shrunk: Shrunk, seg: Segment) -> Prepared:
    """Cut the segmented object out of the work-size picture: grey, negated, lifted if faint, fit to 28x28."""
    small, factor, mask = shrunk.small, shrunk.factor, seg.mask
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    crop = cv2.cvtColor(small[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
    inside = mask[y0:y1, x0:x1]
    negated = (255.0 - crop) * inside  # the object bright, everything else 0
    top = float(np.percentile(negated[inside > 0], 99))
    if 0 < top < LIFT:  # a light garment would come out nearly black: lift it (gently; more hurt)
        negated = np.clip(negated * (LIFT / top), 0, 255)
    box = (int(x0 / factor), int(y0 / factor), int((x1 - x0) / factor), int((y1 - y0) / factor))
    empty = not seg.found  # a speck, or the whole frame taken because nothing differed
    return Prepared(fit_28(negated.astype(np.uint8)), bool(seg.contrast < MIN_CONTRAST), empty, box)


def preprocess(image: np.ndarray) -> Prepared:
    """A photo array (as read_image or a camera gives it) -> the 28x28 image the model sees."""
    shrunk = shrink(image, WORK_SIZE)
    return render(shrunk, segment(shrunk.small))


def prepare_raw(image: np.ndarray) -> Prepared:
    """--raw: the input already looks like Fashion-MNIST (dark background); only grey and resize to 28x28."""
    gray = cv2.cvtColor(to_bgr8(image), cv2.COLOR_BGR2GRAY)
    if gray.shape != (28, 28):
        gray = cv2.resize(gray, (28, 28), interpolation=cv2.INTER_AREA)
    return Prepared(gray, False, False, (0, 0, image.shape[1], image.shape[0]))


def preprocess_record() -> dict[str, Any]:
    """What a model's metadata records about the preprocessing it was made for: the version and its parameters
    (as timm's pretrained config travels with the weights)."""
    return {"version": PREPROCESS_VERSION, "output": "28x28 uint8, the object bright on black; x = pixel / 255",
            "steps": "EXIF rotation, alpha on white, shrink, GrabCut segmentation, crop, negate, lift, fit to 28x28",
            "work_size": WORK_SIZE, "grabcut_iterations": GRABCUT_ITERATIONS, "lift": LIFT,
            "min_contrast": MIN_CONTRAST, "min_area": MIN_AREA, "max_area": MAX_AREA, "rect_margin": RECT_MARGIN}


class CutOutFrames(SegmentingFrames[Segment]):
    """The cut-out's live frame path (fmnist.runtime.frame_path): shrink to WORK_SIZE, segment when SCENE_RULE says
    the scene moved, and render each frame with the mask it has; a segmented frame gives exactly `preprocess`'s."""

    def view(self, small: np.ndarray) -> np.ndarray:
        return SCENE_RULE.view(small)

    def change(self, before: np.ndarray | None, now: np.ndarray) -> Change:
        return SCENE_RULE.change(before, now)

    def segment(self, small: np.ndarray) -> Segment:
        return segment(small)

    def render(self, shrunk: Shrunk, seg: Segment) -> Prepared:
        return render(shrunk, seg)

    def follow(self, seg: Segment, change: Change) -> Segment:
        """The mask moved by the scene's shift (whole work-size pixels; what moves out of the picture is lost)."""
        h, w = seg.mask.shape
        dx, dy = round(change.shift[0] * w), round(change.shift[1] * h)
        if dx == dy == 0:
            return seg
        moved = cv2.warpAffine(seg.mask, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), flags=cv2.INTER_NEAREST)
        return Segment(moved, seg.contrast) if moved.any() else seg  # all of it out of the picture: keep it


@dataclass(frozen=True)
class CutOut(Preparation):
    """Segment, grey, negate, fit to 28x28; x = pixel / 255. A record without a kind is this one."""

    size: int = IMAGE_SIZE

    kind: ClassVar[str] = "cutout"
    version: ClassVar[str] = PREPROCESS_VERSION
    channels: ClassVar[int] = 1
    caches: ClassVar[bool] = True  # a GrabCut per photo: worth keeping
    test_images: ClassVar[str] = "fashion-mnist"  # already what it makes of a photo
    int8_method: ClassVar[str] = "minmax"  # docs/model.md
    int8_activations: ClassVar[str] = "int8"
    int8_float_convs: ClassVar[int] = 0  # a float first conv was slower (97 µs against 77): docs/model.md
    calib_photos: ClassVar[int] = 1000

    def prepare(self, image: np.ndarray, raw: bool = False) -> Prepared:
        return prepare_raw(image) if raw else preprocess(image)

    def covered_by(self, short: int, long: int, raw: bool = False) -> bool:
        # raw: resized to 28x28 grey, so a picture whose short side is 28 or more will do. Otherwise full size: the
        # segmentation is chaotic in its input's last grey level (GrabCut), and a photo shrunk to WORK_SIZE from
        # libjpeg's 1/2 scale instead of its full decode changed the edge model's label on 33 of the 341
        # validation photos (the photo model's crop: 8)
        return raw and short >= self.size

    def frame_path(self) -> CutOutFrames:
        return CutOutFrames(WORK_SIZE, self.image_shape)

    def to_input(self, images: np.ndarray) -> np.ndarray:
        # (N, 28, 28, 1) float32 in [0, 1], the object bright on black
        return per_value(self.checked(images)[..., None], lambda x: x / np.float32(255.0))

    def record(self) -> dict[str, Any]:
        return preprocess_record()

    @classmethod
    def from_fields(cls, record: dict[str, Any], where: Path | str) -> CutOut:
        # the other fields describe this fmnist's fixed pipeline, which the version names
        return cls()

    @property
    def prose(self) -> str:
        return "grayscale 28x28, the object bright on a dark background, x = pixel / 255"

    def input_spec(self) -> dict[str, Any]:
        return {**INPUT_BASE, "shape": [None, *self.input_shape], "scale": 1.0 / 255.0, "range": [0.0, 1.0]}
