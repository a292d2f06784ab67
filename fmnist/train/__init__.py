"""Training: the model registry, one training loop (loop) used by Fashion-MNIST fitting (fit) and by your own
classes (own), augmentation, the photo mix, plots and provenance. Needs `fmnist[train]`."""
