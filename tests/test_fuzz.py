"""Property tests: the preprocessing, the IDX reader and the metadata reader never crash with anything but
their documented errors, whatever they are given."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fmnist.core.errors import DataError, ModelError
from fmnist.core.meta import ModelMeta
from fmnist.data import fashion
from fmnist.runtime.preprocess import ImageError, preprocess

settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@st.composite
def images(draw):
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32]))
    height, width = draw(st.integers(1, 4000)), draw(st.integers(1, 4000))
    if height * width > 2_000_000:  # keep each example small in memory; the shape extremes stay covered
        width = max(1, 2_000_000 // height)
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


@given(st.one_of(st.text(max_size=300), st.builds(lambda d: __import__("json").dumps(d),
                                                   st.dictionaries(st.text(max_size=12), st.integers() | st.text()))))
def test_metadata_reader_on_arbitrary_strings(text):
    from pathlib import Path

    try:
        meta = ModelMeta.from_json(text, Path("fuzz.onnx"))
    except ModelError:
        return
    assert len(meta.labels) == 10
