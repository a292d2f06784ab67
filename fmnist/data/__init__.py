"""The data: the Fashion-MNIST IDX files (find, load, validate, download) and the clothing photo set's download.
Standard library and numpy only, on top of fmnist.core."""
