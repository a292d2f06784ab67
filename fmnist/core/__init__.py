"""The base every layer stands on: model metadata, errors, strict JSON output (jsonsafe), onnxruntime sessions,
atomic writes, timing, quiet native libraries, and the one place TensorFlow is imported (tf). Nothing here imports
another fmnist layer."""
