"""The runtime: numpy, onnxruntime, OpenCV and fmnist.meta/errors/data only. Never TensorFlow."""

import os

# OpenCV refuses to decode images over this many pixels (a backstop for formats whose header
# fmnist.runtime.preprocess does not read itself); it must be set before cv2 is first imported.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", "100000000")
