"""What every fmnist model shares: the class names and the input spec.

The export stage embeds these in each model file; the runtime reads them back.
"""

from __future__ import annotations

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)

IMAGE_SIZE = 28
# (N, 28, 28, 1) float32 in [0, 1]: pixel / 255, the object bright on a dark background
INPUT_SHAPE: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, 1)
INPUT_LAYOUT = "NHWC"
INPUT_DTYPE = "float32"
INPUT_SCALE = 1.0 / 255.0
PREPROCESSING = "grayscale, object bright on a dark background, x / 255"
