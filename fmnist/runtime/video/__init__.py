"""`fmnist live`: frames from a camera, file or stream through the runtime, with a window, a recording, an MJPEG
preview or headless; the scene cache that segments only when the picture changes; photo collection."""
