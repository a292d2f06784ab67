"""The legacy `.pth` reader on crafted files: each one is refused with BadWeightsFile (exit 4), its message naming
the file and what is wrong; never a traceback, a crash or memory read from outside the file.

The files are written here in torch's legacy layout by a small opcode writer (torch is not installed): protocol 2,
globals by name, calls by REDUCE, storages by persistent id, as the real Lite0 file has them."""

from __future__ import annotations

import collections
import hashlib
import pickle
import re
import struct
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmnist.core.errors import ModelError
from fmnist.train.backbones.lite0_weights import weights_path
from fmnist.train.backbones.pth import (
    LEGACY_MAGIC,
    MAX_FILE_BYTES,
    MAX_NESTING,
    MAX_PICKLE_OPS,
    BadWeightsFile,
    UnsafePickle,
    load_state_dict,
)

REAL_SHA256 = "3753d6a7f8aa3230969071a4cb86d4cb55a41616624389f2eb97dc41711016f6"  # the arrays before the hardening


class Global(NamedTuple):
    module: str
    name: str


class Call(NamedTuple):
    func: Any
    args: tuple


class Persistent(NamedTuple):
    pid: Any


class Raw(NamedTuple):
    opcodes: bytes  # written as they are


REBUILD = Global("torch._utils", "_rebuild_tensor_v2")
ORDERED_DICT = Global("collections", "OrderedDict")


def ops(value: Any) -> bytes:
    """Protocol-2 opcodes that build `value`, as torch's pickler writes them."""
    if isinstance(value, Raw):
        return value.opcodes
    if isinstance(value, Global):
        return b"c" + f"{value.module}\n{value.name}\n".encode()
    if isinstance(value, Call):
        return ops(value.func) + ops(value.args) + b"R"
    if isinstance(value, Persistent):
        return ops(value.pid) + b"Q"
    if isinstance(value, tuple):
        return b"(" + b"".join(map(ops, value)) + b"t"
    if isinstance(value, list):
        return b"](" + b"".join(map(ops, value)) + b"e"
    if isinstance(value, collections.OrderedDict):
        return ops(Call(ORDERED_DICT, ())) + b"(" + b"".join(ops(k) + ops(v) for k, v in value.items()) + b"u"
    if isinstance(value, dict):
        return b"}(" + b"".join(ops(k) + ops(v) for k, v in value.items()) + b"u"
    return pickle.dumps(value, protocol=2)[2:-1]  # int, str, bool, None: one opcode (a str and its memo put)


def one_pickle(value: Any) -> bytes:
    return b"\x80\x02" + ops(value) + b"."


def tensor(key: str, count: int, offset: Any, shape: Any, stride: Any, kind: str = "FloatStorage",
           pid: Any = None) -> Call:
    storage = Persistent(pid if pid is not None else ("storage", Global("torch", kind), key, "cpu", count, None))
    return Call(REBUILD, (storage, offset, shape, stride, False, collections.OrderedDict()))


def storage_bytes(array: np.ndarray, count: int | None = None) -> bytes:
    return struct.pack("<q", array.size if count is None else count) + array.tobytes()


STORAGES = {"0": np.arange(12, dtype=np.float32), "1": np.array([7], dtype=np.int64),
            "2": np.arange(6, dtype=np.float16), "3": np.array([1, 0, 2], dtype=np.uint8)}


def good_state() -> collections.OrderedDict:
    """Shared storages, a transposed view, an offset, a scalar, half floats and bools, as torch saves them."""
    return collections.OrderedDict([
        ("w", tensor("0", 12, 0, (3, 4), (4, 1))),
        ("w.T", tensor("0", 12, 0, (4, 3), (1, 4))),
        ("n", tensor("1", 1, 0, (), (), "LongStorage")),
        ("h", tensor("2", 6, 2, (2, 2), (2, 1), "HalfStorage")),
        ("b", tensor("3", 3, 0, (3,), (1,), "BoolStorage")),
        ("empty", tensor("0", 12, 12, (0, 5), (5, 1))),
    ])


def legacy_bytes(state: Any = None, keys: Any = None, raw: bytes | None = None, magic: Any = LEGACY_MAGIC,
                 protocol: Any = 1001, info: Any = None) -> bytes:
    """A file in torch's legacy layout: five pickles, then each listed storage's count and bytes."""
    state = good_state() if state is None else state
    keys = list(STORAGES) if keys is None else keys
    info = {"protocol_version": 1001, "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4}} if info is None else info
    if raw is None:
        raw = b"".join(storage_bytes(STORAGES[key]) for key in keys if key in STORAGES)
    return b"".join(one_pickle(part) for part in (magic, protocol, info, state, keys)) + raw


def write(tmp_path: Path, data: bytes, name: str = "crafted.pth") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path: Path, pattern: str, kind: type[BadWeightsFile] = BadWeightsFile) -> str:
    """The documented error: the class, exit 4, one line that names the file and matches `pattern`."""
    with pytest.raises(kind) as caught:
        load_state_dict(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message and len(message) < 600, message
    assert caught.value.exit_code == 4
    assert re.search(pattern, message), message
    return message


def test_a_small_legacy_file_reads_exactly(tmp_path):
    state = load_state_dict(write(tmp_path, legacy_bytes()))
    assert list(state) == ["w", "w.T", "n", "h", "b", "empty"]
    np.testing.assert_array_equal(state["w"], np.arange(12, dtype=np.float32).reshape(3, 4))
    np.testing.assert_array_equal(state["w.T"], np.arange(12, dtype=np.float32).reshape(3, 4).T)
    assert state["n"].shape == () and state["n"] == 7 and state["n"].dtype == np.int64
    np.testing.assert_array_equal(state["h"], np.array([[2, 3], [4, 5]], dtype=np.float16))
    assert state["h"].dtype == np.float16
    np.testing.assert_array_equal(state["b"], [True, False, True])
    assert state["empty"].shape == (0, 5)
    assert all(a.flags.c_contiguous and a.flags.writeable and a.flags.owndata for a in state.values())


def test_the_real_file_reads_as_it_did_before_the_hardening():
    started = time.perf_counter()
    state = load_state_dict(weights_path())
    assert time.perf_counter() - started < 5
    digest = hashlib.sha256()
    for name, array in state.items():
        digest.update(name.encode() + str(array.shape).encode() + array.dtype.str.encode() + array.tobytes())
    assert digest.hexdigest() == REAL_SHA256


def test_the_documented_error_is_a_model_error_with_exit_4():
    assert issubclass(BadWeightsFile, ModelError) and issubclass(UnsafePickle, BadWeightsFile)
    assert BadWeightsFile.exit_code == 4


def with_tensor(**changes: Any) -> collections.OrderedDict:
    """The good state with tensor "w" rebuilt with `changes` to its key, count, offset, shape, stride, kind or pid."""
    spec = {"key": "0", "count": 12, "offset": 0, "shape": (3, 4), "stride": (4, 1)} | changes
    state = good_state()
    state["w"] = tensor(**spec)
    return state


def on_storage(storage: Any) -> collections.OrderedDict:
    state = good_state()
    state["w"] = Call(REBUILD, (storage, 0, (3, 4), (4, 1), False, collections.OrderedDict()))
    return state


STORAGE_TYPE = Global("torch", "FloatStorage")
TENSOR_CASES = {
    "extent past its storage": (with_tensor(shape=(4, 4)), r"tensor 'w': at offset 0, shape \(4, 4\) and stride "
                                                           r"\(4, 1\) it needs 16 elements of a storage of 12"),
    "offset past its storage": (with_tensor(offset=10), r"it needs 22 elements of a storage of 12"),
    "a huge stride": (with_tensor(stride=(2**40, 1)), r"it needs 2199023255556 elements of a storage of 12"),
    "a stride past int64": (with_tensor(stride=(2**62, 1)), r"stride \(4611686018427387904, 1\) are not integers "
                                                            r"in 0\.\.2\*\*48"),
    "a negative stride": (with_tensor(stride=(-4, 1)), r"stride \(-4, 1\) are not integers"),
    "a negative offset": (with_tensor(offset=-1), r"offset -1, .* are not integers"),
    "a negative size": (with_tensor(shape=(-3, 4)), r"shape \(-3, 4\) and .* are not integers"),
    "a list for the shape": (with_tensor(shape=[3, 4]), r"shape a list and .* are not integers"),
    "a string for the offset": (with_tensor(offset="0"), r"offset '0', .* are not integers"),
    "a float in the stride": (with_tensor(stride=(4.0, 1)), r"stride a tuple are not integers"),
    "more strides than sizes": (with_tensor(stride=(4, 1, 1)), r"as many strides as sizes"),
    "17 dimensions": (with_tensor(shape=(1,) * 17, stride=(1,) * 17), r"at most 16 of each"),
    "an int for the storage": (on_storage(5), r"tensor 'w': its storage is 5, not a storage reference"),
    "a huge declared storage length": (with_tensor(count=2**62), r"storage '0' declares 4611686018427387904 "
                                                                 r"elements, which a file of \d+ bytes cannot hold"),
    "a negative declared storage length": (with_tensor(count=-1), r"storage '0' declares -1 elements"),
    "a storage declared twice, two sizes": (with_tensor(count=11), r"storage '0' is declared twice with different"),
    "a storage view": (on_storage(Persistent(("storage", STORAGE_TYPE, "0", "cpu", 12, ("9", 0, 4)))),
                       r"storage '0' is a view into another"),
    "a storage type given as a string": (on_storage(Persistent(("storage", "FloatStorage", "0", "cpu", 12, None))),
                                         r"a storage reference is a tuple, not \('storage', type"),
    "a storage reference that is a string": (on_storage(Persistent("0")), r"a storage reference is '0', not"),
    "a broadcast to 4 GB": (with_tensor(shape=(2**30,), stride=(0,)), r"its tensors would take 4294967\d\d\d bytes, "
                                                                      r"more than the \d+ this file allows"),
}


@pytest.mark.parametrize("case", list(TENSOR_CASES))
def test_a_crafted_tensor_is_refused_before_any_array_is_built(tmp_path, case):
    state, pattern = TENSOR_CASES[case]
    refused(write(tmp_path, legacy_bytes(state)), pattern)


def test_an_unknown_storage_type_is_a_forbidden_name(tmp_path):
    path = write(tmp_path, legacy_bytes(with_tensor(kind="ComplexFloatStorage")))
    refused(path, r"asks to call torch\.ComplexFloatStorage; .* refused and nothing was run", UnsafePickle)


def real_storage_raw(mutate: dict[str, bytes]) -> bytes:
    return b"".join(mutate.get(key, storage_bytes(STORAGES[key])) for key in STORAGES)


FILE_CASES = {
    "empty file": (b"", r"not a readable PyTorch weights file \(ValueError: pickle exhausted before seeing STOP\)"),
    "a zip-format file": (b"PK\x03\x04rest", r"torch's zip format"),
    "another magic number": (legacy_bytes(magic=12345), r"not a legacy PyTorch weights file \(its magic number"),
    "another protocol version": (legacy_bytes(protocol=1002), r"its protocol version is 1002, not 1001"),
    "big-endian storages": (legacy_bytes(info={"little_endian": False}), r"big-endian"),
    "a list for the system info": (legacy_bytes(info=[1]), r"system info is not a dict"),
    "a list for the state": (legacy_bytes(state=[1, 2], keys=[]),
                             r"holds no state dict of tensors \(it holds a list\)"),
    "an int parameter name": (legacy_bytes(state={1: tensor("0", 12, 0, (3,), (1,))}, keys=["0"]),
                              r"holds no state dict of tensors \(a key is 1\)"),
    "an int where a tensor goes": (legacy_bytes(state={"w": 5}, keys=[]), r"tensor 'w': it is 5, not a tensor"),
    "a tuple for the storage keys": (legacy_bytes(keys=("0",), raw=b""), r"storage keys are a tuple, not a list"),
    "a storage listed no tensor uses": (legacy_bytes(keys=[*STORAGES, "9"]), r"storage '9' is listed but no tensor"),
    "a storage listed twice": (legacy_bytes(keys=["0", "0", "1", "2", "3"]), r"storage '0' is listed twice"),
    "a storage a tensor uses not listed": (legacy_bytes(keys=["0", "1", "2"]), r"1 storages that tensors use have "
                                                                               r"no data \(one: '3'\)"),
    "a raw count that differs": (legacy_bytes(raw=real_storage_raw({"1": struct.pack("<q", 2**62) + bytes(8)})),
                                 r"storage '1' holds 4611686018427387904 elements where its tensors say 1"),
    "a storage section cut in a storage": (legacy_bytes()[:-2], r"storage '3' needs 3 bytes, but only 1 remain"),
    "a storage section cut in a count": (legacy_bytes()[:-5], r"the file ends before storage '3'"),
    "bytes after the last storage": (legacy_bytes() + b"\0" * 3, r"3 bytes follow the last storage"),
    "a pickle cut short": (legacy_bytes()[:150], r"not a readable PyTorch weights file \(ValueError: "),
    "a 100000-deep tuple as a dict key": (legacy_bytes(state={Raw(b")" + b"\x85" * 100_000): 1}),
                                          rf"nested more than {MAX_NESTING} deep"),
    "a 100000-deep list": (legacy_bytes(state=Raw(b"]" * 100_000 + b"a" * 99_999)),
                           rf"nested more than {MAX_NESTING} deep"),
    "a 65-deep tuple": (legacy_bytes(state={"w": Raw(b")" + b"\x85" * 65)}), rf"nested more than {MAX_NESTING}"),
    "too many opcodes": (legacy_bytes(state=Raw(b"(" + b"N" * MAX_PICKLE_OPS + b"l")),
                         rf"a pickle of more than {MAX_PICKLE_OPS} opcodes"),
    "a memo index of 4 billion": (legacy_bytes(state=Raw(b"Nr\xf0\xff\xff\xff")), r"LONG_BINPUT 4294967280 with"),
    "a memo read of nothing": (legacy_bytes(state=Raw(b"h\x07")), r"BINGET 7 of nothing stored"),
    "a bytes object declared 1 TB long": (legacy_bytes(state=Raw(b"\x8e" + struct.pack("<Q", 2**40) + b"ab")),
                                          r"not a readable PyTorch weights file \(ValueError: expected 1099511627776"),
    "a frame declared 1 TB long": (b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"N.",
                                   r"a frame of 1099511627776 bytes past the end"),
    "an OrderedDict built from a copy": (legacy_bytes(state=Call(ORDERED_DICT, ([("a", 1)],))),
                                         r"ValueError: an OrderedDict is built from arguments"),
    "a BUILD that rewrites a tensor's shape": (
        legacy_bytes(state={"w": Raw(ops(tensor("0", 12, 0, (3, 4), (4, 1))) + ops((None, {"shape": (40, 40)}))
                                     + b"b")}),
        r"not a readable PyTorch weights file \(AttributeError: "),
    "a call of a storage type": (legacy_bytes(state={"w": Call(Global("torch", "FloatStorage"), (10**9,))}),
                                 r"\(TypeError: '_StorageType' object is not callable\)"),
    "a stack underflow": (legacy_bytes(state=Raw(b"t")), r"TUPLE finds no MARK"),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_a_crafted_file_is_refused_with_one_line(tmp_path, case):
    data, pattern = FILE_CASES[case]
    refused(write(tmp_path, data), pattern)


def test_a_file_over_the_size_cap_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "huge.pth"
    with path.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk written
    refused(path, r"is over 128 MB, more than this reader takes")


def test_a_missing_file_is_the_documented_error(tmp_path):
    refused(tmp_path / "missing.pth", r"cannot read .*missing\.pth \(No such file or directory\)")


@pytest.mark.slow
def test_every_prefix_of_a_good_file_is_refused(tmp_path):
    good = legacy_bytes()
    for cut in range(len(good)):
        refused(write(tmp_path, good[:cut]), r"truncated or damaged|not a readable PyTorch weights file")


def reads_or_refuses(path: Path) -> None:
    """The property: arrays (of a storage dtype) or the documented error naming the file; nothing else."""
    try:
        state = load_state_dict(path)
    except BadWeightsFile as e:
        assert str(path) in str(e) and "\n" not in str(e)
        return
    assert all(type(name) is str and isinstance(array, np.ndarray) for name, array in state.items())
    assert all(array.dtype.kind in "fiub" and array.nbytes <= 2 * path.stat().st_size + 2**20
               for array in state.values())


@pytest.mark.slow
def test_every_byte_of_a_good_file_inverted_reads_or_is_refused(tmp_path):
    good = bytearray(legacy_bytes())
    path = tmp_path / "flipped.pth"
    for at in range(len(good)):
        flipped = good.copy()
        flipped[at] ^= 0xFF
        path.write_bytes(flipped)
        reads_or_refuses(path)


GOOD = legacy_bytes()
edits = st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=6)
inserts = st.tuples(st.integers(0, len(GOOD)), st.binary(max_size=12))


@given(edits, inserts, st.none() | st.integers(0, len(GOOD) + 12))
def test_a_mutated_or_truncated_good_file_reads_or_is_refused(tmp_path_factory, changes, insert, cut):
    data = bytearray(GOOD)
    for at, value in changes:
        data[at] = value
    at, extra = insert
    data[at:at] = extra
    path = tmp_path_factory.mktemp("pth") / "fuzzed.pth"
    path.write_bytes(bytes(data[:cut]))  # cut None: the whole file
    reads_or_refuses(path)
