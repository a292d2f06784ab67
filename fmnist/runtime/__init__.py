"""One image -> label, what a Raspberry Pi runs: preprocess, classifier, decision ("not sure"), annotate, and
classify's inputs and batches. Video (live, the scene cache, capture, sources, preview, collect) sits on top in
fmnist.runtime.video.

The hard wall: this package imports only the standard library, numpy, onnxruntime, OpenCV, fmnist.core and
fmnist.data. Never TensorFlow, Keras, tf2onnx, onnx or matplotlib (tests/test_layers.py and test_runtime.py check).
"""

import os

# OpenCV refuses to decode images over this many pixels: a backstop, as fmnist.runtime.image_header reads the size
# of every format fmnist.runtime.image takes; it must be set before cv2 is first imported.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", "100000000")
