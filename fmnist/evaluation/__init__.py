"""Judging a model: the one harness that runs any model file on a batch (predictors), the images a model is
judged on (testset), classification reports, and photo folders through the runtime's preprocessing with their
figures (photo_set, photo_map, photo_figures). TensorFlow only when a .keras file is run."""
