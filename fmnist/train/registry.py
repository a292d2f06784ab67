"""The recipe registry: everything `fmnist train` and `fmnist train-own` can fit, by the option that names it.

`TRAIN` (`train --model NAME`): the 28x28 networks and the photo model (fmnist.train.fashion_recipes), which
learn Fashion-MNIST's labels. `TRAIN_OWN` (`train-own --backbone NAME`): the tiers (fmnist.train.own_recipes),
which learn PHOTOS' folder names. Each entry is a Recipe (fmnist.train.recipe): it owns its options and their
defaults, its config, its fit and its run card; the CLI builds its choices, its help and its checks from here
and never asks which recipe it has. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

from fmnist.train import fashion_recipes, own_recipes
from fmnist.train.recipe import Family

TRAIN = Family("--model", fashion_recipes.FASHION, fashion_recipes.DEFAULT)
TRAIN_OWN = Family("--backbone", own_recipes.OWN, own_recipes.DEFAULT)
