"""Training side: model registry, fitting, evaluation and reports. Needs `fmnist[train]`."""
