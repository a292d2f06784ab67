"""fmnist.core.zip_archive's bounds, each on an archive crafted past it: what zipfile would allocate for it is
refused from the end record and the directory, before a member is read."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from fmnist.core.errors import ModelError
from fmnist.core.zip_archive import ENTRY_BYTES, check_zip

BOTH = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}


def _check(path: Path, limit: int = 10_000, members: int = 3, methods: set[int] = BOTH) -> None:
    check_zip(path, "a test archive", limit, members, methods, "make it again")


def _zip(path: Path, names: list[str], data: bytes = b"", method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name in names:
            archive.writestr(name, data)
    return path


def _patched(path: Path, at_end: int, value: bytes) -> Path:
    """`value` written `at_end` bytes before the end of the file (the end record is its last 22 bytes)."""
    blob = bytearray(path.read_bytes())
    blob[len(blob) - at_end : len(blob) - at_end + len(value)] = value
    path.write_bytes(bytes(blob))
    return path


def test_a_valid_archive_within_its_bounds_passes(tmp_path):
    _check(_zip(tmp_path / "ok.zip", ["a", "b"], bytes(100), zipfile.ZIP_DEFLATED))


def test_members_that_inflate_past_the_limit_are_refused(tmp_path):
    path = _zip(tmp_path / "bomb.zip", ["a"], bytes(20_000), zipfile.ZIP_DEFLATED)  # ~60 bytes on disk
    with pytest.raises(ModelError, match=r"its members inflate to 0\.02 MB, over the 0\.01 MB a test archive may take"):
        _check(path)


@pytest.mark.parametrize(("method", "name"), [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA"),
                                              (zipfile.ZIP_DEFLATED, "deflated")])
def test_a_method_the_reader_does_not_bound_is_refused(tmp_path, method, name):
    """zipfile inflates a bzip2 or LZMA member whole however it is read, and a deflated one read whole (as Keras
    reads) to all its stream holds before cutting it to the declared size."""
    path = _zip(tmp_path / "m.zip", ["config.json"], b"{}", method)
    with pytest.raises(ModelError, match=rf"its member 'config.json' is {name}, not stored;"):
        _check(path, methods={zipfile.ZIP_STORED})


def test_more_members_than_the_bound_are_refused_from_the_end_record(tmp_path):
    with pytest.raises(ModelError, match="its archive lists 4 members, more than the 3 a test archive may hold"):
        _check(_zip(tmp_path / "crowd.zip", list("abcd")))


def _understated(path: Path, names: list[str]) -> Path:
    """An archive of `names` whose end record says it holds 3 members (on this disk and in all)."""
    return _patched(_zip(path, names), 14, (3).to_bytes(2, "little") * 2)


def test_an_end_record_that_understates_its_members_is_refused_by_its_directory(tmp_path):
    """zipfile reads entries until the directory's bytes are used, whatever count the end record gives."""
    big = _understated(tmp_path / "big.zip", [f"{n:04d}" for n in range(200)])  # 50 bytes an entry
    with pytest.raises(ModelError, match="its archive's directory takes 10,000 bytes, more than 3 members of a test"):
        _check(big, limit=100_000)
    assert 3 * ENTRY_BYTES < 10_000
    small = _understated(tmp_path / "small.zip", list("abcdefghij"))
    with pytest.raises(ModelError, match="its archive holds 10 members, more than the 3 a test archive may hold"):
        _check(small)


def test_a_stored_member_that_holds_more_than_it_declares_is_refused(tmp_path):
    path = _zip(tmp_path / "s.zip", ["a"], bytes(50))
    blob = bytearray(path.read_bytes())
    entry = blob.index(b"PK\x01\x02")  # the directory's entry: its uncompressed size is at offset 24
    blob[entry + 24 : entry + 28] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="its stored member 'a' declares 10 bytes but holds 50"):
        _check(path)


def test_a_multi_disk_archive_is_one_error(tmp_path):
    """A zip64 end locator naming two disks: zipfile raises BadZipFile reading the end record."""
    data = _zip(tmp_path / "one.zip", ["a"]).read_bytes()
    end = data.rfind(b"PK\x05\x06")
    size, offset = struct.unpack("<2L", data[end + 12 : end + 20])
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 1, 1, size, offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 2)
    path = tmp_path / "disks.zip"
    path.write_bytes(data[:end] + record + locator + data[end:])
    with pytest.raises(ModelError, match=r"as a test archive \(its zip archive cannot be read: .*multiple disks"):
        _check(path)


@pytest.mark.parametrize("kind", ["folder", "missing", "junk"])
def test_what_is_no_zip_archive_is_one_error(tmp_path, kind):
    path = tmp_path / kind
    if kind == "folder":
        path.mkdir()
    elif kind == "junk":
        path.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match=r"as a test archive \(it is not a file holding a zip archive\); make it"):
        _check(path)
