"""fmnist: Fashion-MNIST from a Keras notebook to a device."""

import os

__version__ = "0.2.0"

# onnxruntime 1.29+ on Linux and macOS sends telemetry (a device id under ~/.cache/Microsoft, DNS look-ups and uploads
# to events.data.microsoft.com) unless this is set before its first session. fmnist runs on devices, often offline,
# so it is off unless the user has set it themselves.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
