"""Draw a result on a photo: the label and score, the object's box, and an inset of what the model saw."""

from __future__ import annotations

import cv2
import numpy as np

INSET = 112  # side of the inset of the model's input, at 480 px: a 28x28 cut-out 4x, a photo-tier square scaled
MIN_INSET = 28  # the smallest inset drawn: a picture too small for it gets none


def annotate(image: np.ndarray, lines: list[str], inset: np.ndarray, box: tuple[int, int, int, int] | None = None,
             colour: tuple[int, int, int] = (40, 220, 40)) -> np.ndarray:
    """A BGR uint8 copy of `image` with `lines` on a dark band, `box` outlined and `inset` in the top-right corner."""
    out = image.copy()
    h, w = out.shape[:2]
    unit = max(1.0, min(h, w) / 480)  # scale strokes and text with the picture
    if box is not None:
        x, y, bw, bh = box
        cv2.rectangle(out, (x, y), (x + bw, y + bh), colour, max(1, round(2 * unit)))
    _text_band(out, lines, colour, 0.7 * unit, max(1, round(2 * unit)), round(8 * unit), bottom=False)
    side = min(round(INSET * unit), h // 2, w // 2)
    if side >= MIN_INSET:
        grows = side >= max(inset.shape[:2])  # enlarged: its pixels kept sharp; shrunk: averaged
        big = cv2.resize(inset, (side, side), interpolation=cv2.INTER_NEAREST if grows else cv2.INTER_AREA)
        out[:side, w - side :] = big if big.ndim == 3 else cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
        cv2.rectangle(out, (w - side, 0), (w - 1, side - 1), (255, 255, 255), 1)
    return out


def draw_footer(image: np.ndarray, lines: list[str], colour: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """`lines` on a dark band along the bottom of `image` (drawn in place; returned for chaining)."""
    unit = max(1.0, min(image.shape[:2]) / 480)
    _text_band(image, lines, colour, 0.6 * unit, max(1, round(unit)), round(8 * unit), bottom=True)
    return image


def _text_band(image: np.ndarray, lines: list[str], colour: tuple[int, int, int], scale: float, thick: int,
               gap: int, bottom: bool) -> None:
    """`lines` on a dark band at the top-left (as wide as the text) or along the whole bottom of `image`."""
    h, w = image.shape[:2]
    sizes = [cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thick) for line in lines]
    step = max(th + base for (_, th), base in sizes) + gap
    height = step * len(lines) + 8
    top = h - height if bottom else 0
    right = w if bottom else min(w, max(tw for (tw, _), _ in sizes) + 16)
    cv2.rectangle(image, (0, top), (right, top + height), (0, 0, 0), cv2.FILLED)
    for i, (line, ((_, th), _)) in enumerate(zip(lines, sizes, strict=True)):
        cv2.putText(image, line, (8, top + step * i + th + 8), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick,
                    cv2.LINE_AA)
