"""Property tests: the preprocessing, the IDX reader and the metadata reader never crash with anything but
their documented errors, whatever they are given."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fmnist.core.errors import DataError, ModelError
from fmnist.core.meta import CLASS_NAMES, ModelMeta
from fmnist.data import fashion
from fmnist.runtime.preprocess import ImageError, preprocess

settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@st.composite
def images(draw):
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32]))
    height, width = draw(st.integers(1, 4000)), draw(st.integers(1, 4000))
    if height * width > 1_000_000:  # keep each example small and quick; the shape extremes stay covered
        width = max(1, 1_000_000 // height)
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    shape = (height, width) if channels is None else (height, width, channels)
    if dtype is np.float32:
        fill = st.floats(allow_nan=True, allow_infinity=True, width=32)
    else:
        fill = st.integers(0, np.iinfo(dtype).max)
    # a few random pixels on a random plain background: cheap to generate at any size
    base = np.full(shape, draw(fill), dtype=dtype)
    patch = draw(arrays(dtype, (min(height, 16), min(width, 16), *shape[2:]), elements=fill))
    y, x = draw(st.integers(0, height - patch.shape[0])), draw(st.integers(0, width - patch.shape[1]))
    base[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
    return base


@given(images())
@pytest.mark.slow
def test_preprocess_returns_28x28_uint8_or_an_image_error(image):
    try:
        prepared = preprocess(image)
    except ImageError:
        return
    assert prepared.image.shape == (28, 28) and prepared.image.dtype == np.uint8
    assert isinstance(prepared.low_contrast, bool) and isinstance(prepared.empty, bool)


@given(st.binary(max_size=4096), st.sampled_from([fashion.IMAGES_MAGIC, fashion.LABELS_MAGIC]), st.booleans())
def test_idx_reader_on_arbitrary_bytes(tmp_path_factory, blob, magic, gz):
    import gzip

    path = tmp_path_factory.mktemp("idx") / "x.gz"
    path.write_bytes(gzip.compress(blob) if gz else blob)
    try:
        array = fashion.read_idx(path, magic)
    except DataError:
        return
    assert array.dtype == np.uint8 and array.ndim == (magic & 0xFF)


labels = st.one_of(st.lists(st.text(max_size=8), max_size=60), st.integers(), st.none())
metadata = st.fixed_dictionaries(
    {"precision": st.sampled_from(["fp32", "fp16", "int8"]), "source_sha256": st.text(max_size=64)},
    optional={"labels": labels, "decision": st.dictionaries(st.text(max_size=8), st.floats() | st.text()),
              "preprocess": st.dictionaries(st.text(max_size=8), st.text(max_size=8)), "unknown": st.integers()})


def well_formed(raw: dict) -> bool:
    got = raw.get("labels", list(CLASS_NAMES))
    return (isinstance(got, list) and 2 <= len(got) <= 50 and len(set(got)) == len(got)
            and all(x.strip() for x in got))


@given(metadata)
def test_metadata_reader_keeps_well_formed_labels_and_refuses_the_rest(raw):
    """Metadata with both required keys: well-formed labels are read back as written (Fashion-MNIST's when
    absent); any other label list is a ModelError, never a model with wrong labels."""
    try:
        meta = ModelMeta.from_json(json.dumps(raw), Path("fuzz.onnx"))
    except ModelError:
        assert not well_formed(raw)
        return
    assert well_formed(raw)
    assert meta.labels == raw.get("labels", list(CLASS_NAMES)) and meta.precision == raw["precision"]


@given(st.text(max_size=300))
def test_metadata_reader_on_arbitrary_strings(text):
    try:
        meta = ModelMeta.from_json(text, Path("fuzz.onnx"))
    except ModelError:
        return
    assert 2 <= len(meta.labels) <= 50  # whatever parses has a usable label list
