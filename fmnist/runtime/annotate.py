"""Draw a result on a photo: the label and score, the object's box, and an inset of what the model saw."""

from __future__ import annotations

import cv2
import numpy as np

INSET = 112  # the 28x28 input, shown 4x


def annotate(image: np.ndarray, text: str, inset: np.ndarray, box: tuple[int, int, int, int] | None = None,
             colour: tuple[int, int, int] = (40, 220, 40)) -> np.ndarray:
    """A BGR uint8 copy of `image` with `text` on a dark band, `box` outlined and `inset` in the top-right corner."""
    out = image.copy()
    h, w = out.shape[:2]
    unit = max(1.0, min(h, w) / 480)  # scale strokes and text with the picture
    if box is not None:
        x, y, bw, bh = box
        cv2.rectangle(out, (x, y), (x + bw, y + bh), colour, max(1, round(2 * unit)))
    scale, thick = 0.7 * unit, max(1, round(2 * unit))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    cv2.rectangle(out, (0, 0), (min(w, tw + 16), th + base + 16), (0, 0, 0), cv2.FILLED)
    cv2.putText(out, text, (8, th + 8), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    side = min(round(INSET * unit), h // 2, w // 2)
    if side >= 28:
        big = cv2.resize(inset, (side, side), interpolation=cv2.INTER_NEAREST)
        out[:side, w - side :] = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
        cv2.rectangle(out, (w - side, 0), (w - 1, side - 1), (255, 255, 255), 1)
    return out
