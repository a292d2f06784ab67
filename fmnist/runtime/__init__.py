"""The runtime: numpy, onnxruntime, OpenCV and fmnist.meta/errors/data only. Never TensorFlow."""
