"""Read a PyTorch `.pth` state dict into numpy arrays, without torch and without running the pickle's code.

The Lite0 weights are in torch's legacy (pre-1.6) format: a chain of pickles (magic number, protocol, system
info, the state dict, the storage keys) followed by each storage's raw bytes. A pickle can call any importable
function, so the unpickler here resolves only the names a state dict needs (an OrderedDict, the tensor rebuild
and the storage types), each to a harmless stand-in. Any other name is refused before anything is called.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from fmnist.core.errors import ModelError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                  "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                  "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class UnsafePickle(ModelError):
    """A weights file that asks to call something other than a tensor rebuild: refused, nothing run."""


@dataclass
class _Storage:
    dtype: Any
    count: int
    data: np.ndarray | None = None  # filled from the raw bytes after the pickles


@dataclass(frozen=True)
class _StorageType:
    dtype: Any


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        assert self.storage.data is not None
        flat = self.storage.data[self.offset:]
        if not self.shape:
            return flat[:1].reshape(()).copy()
        item = flat.itemsize
        return np.lib.stride_tricks.as_strided(flat, self.shape, [s * item for s in self.stride]).copy()


def _rebuild_tensor(storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...],
                    *_ignored: Any) -> _TensorRef:
    if not isinstance(storage, _Storage):
        raise UnsafePickle("a tensor rebuild in this weights file names no storage")
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


def _allowed(module: str, name: str) -> Any:
    if (module, name) == ("collections", "OrderedDict"):
        return collections.OrderedDict
    if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
        return _rebuild_tensor
    if module == "torch" and name in STORAGE_DTYPES:
        return _StorageType(STORAGE_DTYPES[name])
    return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], source: Path, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.source, self.storages = source, storages

    def find_class(self, module: str, name: str) -> Any:
        found = _allowed(module, name)
        if found is None:
            raise UnsafePickle(f"{self.source} asks to call {module}.{name}; a weights file names only tensor "
                               "rebuilds, so it was refused and nothing was run (is the file tampered with?)")
        return found

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise UnsafePickle(f"{self.source}: unexpected persistent id {pid!r:.80}")
        key, count = str(pid[2]), int(pid[4])
        return self.storages.setdefault(key, _Storage(pid[1].dtype, count))


def _read_storages(f: IO[bytes], keys: list[str], storages: dict[str, _Storage], source: Path) -> None:
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise ModelError(f"{source}: storage {key} is listed but no tensor uses it")
        count = int.from_bytes(f.read(8), "little")
        raw = f.read(count * np.dtype(storage.dtype).itemsize)
        if count != storage.count or len(raw) != count * np.dtype(storage.dtype).itemsize:
            raise ModelError(f"{source} is truncated or damaged (storage {key})")
        storage.data = np.frombuffer(raw, storage.dtype)


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """{parameter name: numpy array} from a legacy-format `.pth` file. UnsafePickle for anything but tensors."""
    path = Path(path)
    storages: dict[str, _Storage] = {}
    try:
        with path.open("rb") as f:
            if _Unpickler(f, path, storages).load() != LEGACY_MAGIC:
                raise ModelError(f"{path} is not a legacy PyTorch weights file (its magic number differs)")
            _Unpickler(f, path, storages).load()  # protocol version
            _Unpickler(f, path, storages).load()  # system info (endianness, type sizes)
            state = _Unpickler(f, path, storages).load()
            keys = _Unpickler(f, path, storages).load()
            _read_storages(f, keys, storages, path)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise ModelError(f"{path} is not a readable PyTorch weights file ({e})") from e
    if not isinstance(state, dict) or not all(isinstance(v, _TensorRef) for v in state.values()):
        raise ModelError(f"{path} holds no state dict of tensors")
    return {name: ref.array() for name, ref in state.items()}
