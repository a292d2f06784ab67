"""What a file's own table or header declares is bounded before it is followed: a TFLite metadata table of millions
of entries (each a copy of one 20 MB buffer: `fmnist info` ran for hours), a metadata buffer over the limit (never
copied), and an IDX header whose size overflows int64 (its error said "needs 0")."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

import flatbuffers
import pytest
from ai_edge_litert import schema_py_generated as schema
from crafted import meta_text
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import DataError, ModelError
from fmnist.core.meta import MAX_META_CHARS, MAX_TFLITE_ENTRIES, META_KEY, _tflite_entries, read_meta
from fmnist.data import fashion

runner = CliRunner()
# the entries the TFLite converter writes beside fmnist's: their buffers are binary
CONVERTER = ("min_runtime_version", "CONVERSION_METADATA", "reduced_precision_support")


def _vector(b: flatbuffers.Builder, start: Any, items: list[int]) -> int:
    """A flatbuffer vector of the tables `items` (offsets), in order."""
    start(b, len(items))
    for item in reversed(items):
        b.PrependUOffsetTRelative(item)
    return b.EndVector()


def _tflite(path: Path, buffers: list[bytes], entries: list[tuple[str, int]]) -> Path:
    """A TFLite flatbuffer of no operators whose metadata table holds `entries` (name, index into `buffers`)."""
    b = flatbuffers.Builder(sum(map(len, buffers)) + 64 * len(entries) + 1024)
    made = []
    for data in buffers:
        vector = b.CreateByteVector(data)
        schema.BufferStart(b)
        schema.BufferAddData(b, vector)
        made.append(schema.BufferEnd(b))
    buffer_vector = _vector(b, schema.ModelStartBuffersVector, made)
    tables = []
    for name, index in entries:
        text = b.CreateString(name)
        schema.MetadataStart(b)
        schema.MetadataAddName(b, text)
        schema.MetadataAddBuffer(b, index)
        tables.append(schema.MetadataEnd(b))
    metadata = _vector(b, schema.ModelStartMetadataVector, tables)
    schema.ModelStart(b)
    schema.ModelAddVersion(b, 3)
    schema.ModelAddBuffers(b, buffer_vector)
    schema.ModelAddMetadata(b, metadata)
    b.Finish(schema.ModelEnd(b), file_identifier=b"TFL3")
    path.write_bytes(b.Output())
    return path


def _converted(path: Path, entries: int) -> Path:
    """A table as the converter and export leave it, `entries` long: binary entries, fmnist's last."""
    buffers = [b"", b"\x01\x02\x03\x00", meta_text(labels=["mug", "cup"]).encode()]
    table = [(CONVERTER[i % len(CONVERTER)], 1) for i in range(entries - 1)] + [(META_KEY, 2)]
    return _tflite(path, buffers, table)


def test_a_table_as_long_as_the_cap_is_read_and_one_entry_longer_is_refused_in_one_line(tmp_path):
    assert read_meta(_converted(tmp_path / "real.tflite", 4)).labels == ["mug", "cup"]  # what export writes
    assert read_meta(_converted(tmp_path / "cap.tflite", MAX_TFLITE_ENTRIES)).labels == ["mug", "cup"]
    over = _converted(tmp_path / "over.tflite", MAX_TFLITE_ENTRIES + 1)
    with pytest.raises(ModelError, match=f"has {MAX_TFLITE_ENTRIES + 1} metadata entries, over the "
                                         f"{MAX_TFLITE_ENTRIES} a TFLite model may hold"):
        read_meta(over)


def test_a_table_repeating_one_fmnist_entry_is_refused_before_any_is_read(tmp_path):
    """The review's file, small: 100 entries that all point at one metadata buffer (it was read 100 times)."""
    crafted = _tflite(tmp_path / "hang.tflite", [b"", meta_text().encode()], [(META_KEY, 1)] * 100)
    started = time.monotonic()
    got = runner.invoke(app, ["info", "--model", str(crafted)])
    assert got.exit_code == 4 and "Traceback" not in got.output, got.output
    assert got.stderr == (f"error: {crafted} has 100 metadata entries, over the {MAX_TFLITE_ENTRIES} a TFLite model "
                          "may hold; re-export it with fmnist export\n")
    assert time.monotonic() - started < 2


def test_a_metadata_buffer_over_the_limit_is_refused_before_it_is_copied(tmp_path):
    size = 5 * MAX_META_CHARS
    crafted = _tflite(tmp_path / "big.tflite", [b"", b"{" + b" " * (size - 2) + b"}"], [(META_KEY, 1)])
    refused = f"has {size:,} bytes of fmnist metadata, over the limit of {MAX_META_CHARS:,}; re-export it"
    with pytest.raises(ModelError, match=refused):
        read_meta(crafted)
    table = schema.Model.GetRootAs(crafted.read_bytes(), 0)  # the file's bytes, as read_meta holds them
    tracemalloc.start()
    try:
        with pytest.raises(ModelError, match=refused):
            _tflite_entries(table, crafted)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < size / 10  # the buffer's length read from the table: it was copied and decoded (2 x 5 MB)


def test_the_first_fmnist_entry_is_read_and_the_table_is_not_read_past_it(tmp_path):
    buffers = [b"", meta_text(labels=["mug", "cup"]).encode(), b"\xff not JSON"]
    crafted = _tflite(tmp_path / "two.tflite", buffers, [("min_runtime_version", 0), (META_KEY, 1), (META_KEY, 2)])
    assert read_meta(crafted).labels == ["mug", "cup"]


@pytest.mark.parametrize("data", [b"", b"\0" * 16], ids=["no data", "some data"])
def test_an_idx_header_whose_size_overflows_int64_names_the_size_it_declares(tmp_path, data):
    dims = (60000, 2**31, 2**31)  # 60000 * 2**62 bytes: np.prod in int64 made it 0
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(fashion.IMAGES_MAGIC.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + data)
    with pytest.raises(DataError, match=rf"holds {len(data)} bytes of data but its header \(60000, 2147483648, "
                                        rf"2147483648\) needs {60000 * 2**62};"):
        fashion.read_idx(path, fashion.IMAGES_MAGIC, 60000)
