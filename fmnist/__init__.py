"""fmnist: Fashion-MNIST from a Keras notebook to a device."""

__version__ = "0.2.0"
