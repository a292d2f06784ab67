"""Training-time augmentation on whole batches in tf.data (never in the exported graph).

One map call per batch: per-image random shift (pad 2, crop back to 28), horizontal flip and, optionally,
random erasing and photo-like light: a random gamma and gain, as uneven light and the runtime's lift of
faint garments give real photos. Stateless random ops driven by a seed per batch, so the same seed repeats a run.
"""

from __future__ import annotations

from typing import Any

from fmnist.core.tf import tf
from fmnist.train.photo_targets import PHOTO

SIZE, PAD = 28, 2
GAMMA_LOG = 0.47  # ln 1.6


def _shift(images: Any, u_rows: Any, u_cols: Any) -> Any:
    padded = tf.pad(images, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]])
    span = tf.range(SIZE)[None, :]
    rows = tf.cast(u_rows * (2 * PAD + 1), tf.int32)[:, None] + span  # (B, 28) row indices into the padded image
    cols = tf.cast(u_cols * (2 * PAD + 1), tf.int32)[:, None] + span
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def _erase(images: Any, u: Any, probability: float) -> Any:
    """One rectangle per chosen image (4-14 px a side), filled with one random grey."""
    h, w = tf.cast(4 + u[:, 0] * 11, tf.int32), tf.cast(4 + u[:, 1] * 11, tf.int32)
    top = tf.cast(u[:, 2] * tf.cast(SIZE - h, tf.float32), tf.int32)
    left = tf.cast(u[:, 3] * tf.cast(SIZE - w, tf.float32), tf.int32)
    r, c = tf.range(SIZE)[None, :, None], tf.range(SIZE)[None, None, :]

    def col(v: Any) -> Any:
        return v[:, None, None]

    inside = ((r >= col(top)) & (r < col(top + h)) & (c >= col(left)) & (c < col(left + w))
              & col(u[:, 4] < probability))
    return tf.where(inside[..., None], u[:, 5][:, None, None, None], images)


def _light(images: Any, u: Any, chosen: Any) -> Any:
    """Half the chosen images get gamma in [0.6, 1.6] and gain in [0.7, 1.3] (clipped to [0, 1]); 0 stays 0."""
    gamma = tf.exp((u[:, 0] - 0.5) * 2 * GAMMA_LOG)[:, None, None, None]
    gain = (1.0 + (u[:, 1] - 0.5) * 0.6)[:, None, None, None]
    lit = tf.clip_by_value(tf.pow(images, gamma) * gain, 0.0, 1.0)
    return tf.where(((u[:, 2] < 0.5) & chosen)[:, None, None, None], lit, images)


def augment_batch(images: Any, labels: Any, seed: Any, erase: float = 0.0, light: bool = False,
                  all_photos: bool = False) -> tuple[Any, Any]:
    """images (B, 28, 28, 1) float32 in [0, 1]; seed: a (2,) int64 tensor. With `light`, labels are the
    (B, 12) targets of fmnist.train.photo_targets, whose PHOTO column marks the photos it applies to; with
    `all_photos` too, every image is a photo (own-label training) and labels can be anything."""
    u = tf.random.stateless_uniform([tf.shape(images)[0], 12], seed)
    out = _shift(images, u[:, 0], u[:, 1])
    out = tf.where((u[:, 2] < 0.5)[:, None, None, None], tf.reverse(out, [2]), out)
    if erase:
        out = _erase(out, u[:, 3:9], erase)
    if light:
        chosen = tf.ones_like(u[:, 0], tf.bool) if all_photos else labels[:, PHOTO] > 0.5
        out = _light(out, u[:, 9:12], chosen)
    return out, labels
