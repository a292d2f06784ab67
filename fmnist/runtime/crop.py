"""Photo -> what an ImageNet backbone looks at: the centre square of the photo in colour, resized to the model's
size. The photo tier's preprocessing (docs/your-own-classes.md): no segmentation, so it costs a resize.
"""

from __future__ import annotations

import cv2
import numpy as np

from fmnist.runtime.preprocess import ImageError, Prepared, shrink, to_bgr8

CROP_VERSION = "crop-1"  # bump when `centre_crop` changes what it returns for a photo


def centre_square(width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, side, side): the largest centred square."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side, side


def _resized(image: np.ndarray, size: int) -> np.ndarray:
    """Any photo array -> BGR uint8, size x size (area interpolation when shrinking)."""
    if max(image.shape[:2]) > 4 * size:  # shrink at its own depth first: cheaper on a big photo
        image = shrink(image, 2 * size).small
    bgr = to_bgr8(image)
    grows = bgr.shape[0] < size or bgr.shape[1] < size
    return cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR if grows else cv2.INTER_AREA)


def _height_width(image: np.ndarray) -> tuple[int, int]:
    """An image array's height and width; ImageError for an array that is no image."""
    if image.ndim not in (2, 3) or image.size == 0:
        raise ImageError(f"not an image array: shape {image.shape}")
    return image.shape[0], image.shape[1]


def centre_crop(image: np.ndarray, size: int) -> Prepared:
    """The centre square of a photo array (as read_image or a camera gives it), BGR uint8 size x size."""
    h, w = _height_width(image)
    x, y, side, _ = centre_square(w, h)
    return Prepared(_resized(image[y : y + side, x : x + side], size), False, False, (x, y, side, side))


def whole(image: np.ndarray, size: int) -> Prepared:
    """--raw: the whole picture squeezed to size x size, no crop."""
    h, w = _height_width(image)
    return Prepared(_resized(image, size), False, False, (0, 0, w, h))
