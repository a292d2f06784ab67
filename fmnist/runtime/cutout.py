"""Photo -> what Fashion-MNIST looks like: the object bright on black, cropped tight on its long axis,
centred and padded to 28x28. The one preprocessing path: `classify` and `live` both call `preprocess`.

It follows how the dataset was made (Xiao et al. 2017): trim the background, resize the long edge to 28,
sharpen, pad the short edge, negate. A photo adds what a studio thumbnail does not have: EXIF rotation,
alpha, 16-bit or grey pixels, uneven light, a textured background and clutter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fmnist.core.errors import FmnistError

# Bump when `preprocess` changes what it returns for a photo. The photo cache (fmnist.evaluation.photo_set)
# is keyed on it, and a model records the version it was trained for (its metadata).
PREPROCESS_VERSION = "2"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
WORK_SIZE = 120  # long side the photo is reduced to before segmentation (GrabCut time grows fast with it)
GRABCUT_ITERATIONS = 2
SEED_MIN_DISTANCE = 8.0  # BGR distance a pixel must differ from the background by to seed the object
SEED_NOISE_FACTOR = 3.0
LIFT = 128.0  # a faint (light) object is brightened until its 99th percentile reaches this
MIN_CONTRAST = 40.0  # object-vs-background distance (BGR, 0-441) below which the result is flagged
MIN_AREA = 0.01  # an object smaller than this share of the picture is a speck: nothing there
MAX_AREA = 0.95  # an object covering more than this share of the picture is the picture itself: nothing there
RECT_MARGIN = 0.06  # the fallback's "object is inside" rectangle leaves this share of each side as background
MAX_PIXELS = 100_000_000  # refuse to decode anything larger (a 20000x20000 image is 400 MP, 1.2 GB decoded)


class ImageError(FmnistError):
    """An input that is not a usable image (missing, empty, not an image, truncated)."""


@dataclass(frozen=True)
class Prepared:
    image: np.ndarray  # what the model sees: (28, 28) uint8, the object bright on black (fmnist.runtime.crop: BGR)
    low_contrast: bool  # the object barely differs from its background (e.g. white on white)
    empty: bool  # nothing stands out of the background (a speck at most): no object to classify
    box: tuple[int, int, int, int]  # (x, y, w, h) of the object in the input image's pixels


def declared_size(buf: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, without decoding; None for other formats."""
    head = buf[:65536].tobytes()
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:2] == b"\xff\xd8":  # walk the JPEG segments to the first start-of-frame
        i = 2
        while i + 9 < len(head) and head[i] == 0xFF:
            marker, length = head[i + 1], int.from_bytes(head[i + 2 : i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(head[i + 7 : i + 9], "big"), int.from_bytes(head[i + 5 : i + 7], "big")
            i += 2 + length
    return None


def read_image(path: Path) -> np.ndarray:
    """Decode a file as OpenCV does, keeping alpha and 16-bit depth, with EXIF orientation applied."""
    path = Path(path)
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        raise ImageError(f"{path}: cannot read ({e.strerror})") from e
    if buf.size == 0:
        raise ImageError(f"{path}: empty file")
    size = declared_size(buf)
    if size:
        _check_pixels(path, *size)  # before decoding: a PNG or JPEG bomb never allocates
    try:  # OpenCV refuses some images (over its own pixel limit: a 144 MP TIFF) by raising, not returning None
        image = _decode(buf)
    except cv2.error as e:
        why = "too many pixels for OpenCV" if "PIXELS" in str(e) else "OpenCV's decoder failed"
        raise ImageError(f"{path}: cannot decode it ({why}); downscale it or save it as JPEG or PNG") from e
    if image is None:
        raise ImageError(f"{path}: not an image OpenCV can decode (corrupt, truncated or another format)")
    _check_pixels(path, image.shape[1], image.shape[0])  # formats whose header declared_size does not read
    return image


def _check_pixels(path: Path, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(f"{path}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
                         f"{MAX_PIXELS // 1_000_000} MP limit; downscale it first")


def _decode(buf: np.ndarray) -> np.ndarray | None:
    # IMREAD_UNCHANGED keeps alpha but ignores EXIF orientation; ANYCOLOR|ANYDEPTH applies it but drops alpha
    image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if image is not None and (image.ndim == 2 or image.shape[2] != 4):
        rotated = cv2.imdecode(buf, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
        image = rotated if rotated is not None else image
    return image


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any decoded array (grey/BGR/BGRA; uint8, uint16 or float) -> BGR uint8, alpha composited on white."""
    if image.ndim not in (2, 3) or image.size == 0 or min(image.shape[:2]) < 1:
        raise ImageError(f"not an image array: shape {image.shape}")
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image  # already BGR uint8
    if image.dtype == np.uint8:
        pixels = image.astype(np.float32)
    elif image.dtype == np.uint16:
        pixels = image.astype(np.float32) / 257.0
    elif np.issubdtype(image.dtype, np.floating):
        pixels = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0).clip(0, 1) * 255
    else:
        raise ImageError(f"unsupported pixel type {image.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    channels = pixels.shape[2]
    if channels == 4:
        alpha = pixels[..., 3:] / 255.0
        pixels = pixels[..., :3] * alpha + 255.0 * (1 - alpha)
    elif channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels != 3:
        raise ImageError(f"unsupported channel count {channels}")
    return np.clip(pixels + 0.5, 0, 255).astype(np.uint8)


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
    stands out clearly (MIN_CONTRAST), so a blank or noisy frame stays empty.
    """
    pixels = small.astype(np.float32)
    border = _border(pixels, max(2, min(small.shape[:2]) // 25))
    background = np.median(border, axis=0)  # the dataset trimmed against its "corner pixels"
    distance = np.linalg.norm(pixels - background, axis=2)
    mask = _seeded_mask(small, distance, border, background)
    if not _found(mask):
        framed = _framed_mask(small)
        contrast = _contrast(distance, framed)
        if _found(framed) and contrast >= MIN_CONTRAST:
            return Segment(framed, contrast)
    return Segment(mask, _contrast(distance, mask))


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


@dataclass(frozen=True)
class Shrunk:
    small: np.ndarray  # BGR uint8, long side at most WORK_SIZE: what segmentation works on
    factor: float  # small = input * factor


def shrink(image: np.ndarray, long_side: int = WORK_SIZE) -> Shrunk:
    """Any photo array -> BGR uint8, its long side at most `long_side` (shrunk first, at any depth or channel
    count: cheaper)."""
    if image.ndim not in (2, 3) or image.size == 0:
        raise ImageError(f"not an image array: shape {image.shape}")
    h, w = image.shape[:2]
    factor = min(1.0, long_side / max(h, w))
    if factor < 1.0:
        if np.issubdtype(image.dtype, np.floating):
            image = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        image = cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))),
                           interpolation=cv2.INTER_AREA)
    return Shrunk(to_bgr8(image), factor)


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
    shrunk = shrink(image)
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
