"""Property tests: the preprocessing, the IDX reader and the metadata reader never crash with anything but
their documented errors, whatever they are given."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fmnist.core.errors import DataError, ModelError
from fmnist.core.jsonsafe import dumps
from fmnist.core.meta import CLASS_NAMES, MAX_META_DEPTH, RECORD_FIELDS, TEXT_FIELDS, ModelMeta
from fmnist.data import fashion
from fmnist.runtime.crop import CROP_VERSION, CentreCrop
from fmnist.runtime.cutout import preprocess
from fmnist.runtime.decision import DEFAULT_THRESHOLD, model_threshold
from fmnist.runtime.image import ImageError
from fmnist.runtime.model_info import describe
from fmnist.runtime.preparation import from_record


@st.composite
def images(draw):
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32]))
    height, width = draw(st.integers(1, 4000)), draw(st.integers(1, 4000))
    if height * width > 250_000:  # keep each example small and quick; the shape extremes stay covered
        width = max(1, 250_000 // height)
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
# each example runs GrabCut (~0.1 s): a third of the loaded profile's examples (66 of the ci profile's 200)
@settings(max_examples=max(1, settings.default.max_examples // 3))
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
            and all(x.strip() and x.isprintable() for x in got))


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


# ---- the metadata reader on nested JSON, and the crop a record describes --------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
@st.composite
def nested_metadata(draw) -> dict:
    """Well-formed metadata with some fields replaced by any JSON (the threshold, too), some left out."""
    raw = {"precision": "fp32", "source_sha256": "", "labels": list(CLASS_NAMES), "preprocessing": "",
           "decision": {"threshold": draw(st.floats(0, 1)), "coverage": draw(json_values)},
           "training": draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4))}
    fields = st.sampled_from([*TEXT_FIELDS, *RECORD_FIELDS, "labels"])
    for name in draw(st.sets(fields, max_size=4)):
        raw[name] = draw(json_values)
    if draw(st.booleans()):
        raw["decision"] = {"threshold": draw(json_values)}
    for name in draw(st.sets(fields, max_size=2)):
        raw.pop(name, None)
    return raw


@given(nested_metadata())
def test_metadata_reader_on_nested_json_values(raw):
    """Any JSON in any field: a ModelMeta whose every field is of the type it is read as (the threshold a
    probability), which `info` prints and whose JSON is strict; or ModelError."""
    try:
        meta = ModelMeta.from_json(json.dumps(raw), Path("fuzz.onnx"))
    except ModelError:
        return
    assert all(isinstance(getattr(meta, name), str) for name in TEXT_FIELDS)
    assert all(isinstance(getattr(meta, name), dict) for name in RECORD_FIELDS)
    assert 2 <= len(meta.labels) <= 50 and all(isinstance(label, str) for label in meta.labels)
    threshold = model_threshold(meta)  # the metadata's own, never silently replaced; a probability
    assert threshold == (float(raw["decision"]["threshold"]) if "threshold" in meta.decision else DEFAULT_THRESHOLD)
    assert math.isfinite(threshold) and 0 <= threshold <= 1
    assert len(describe(meta)) >= 7  # fmnist info's lines
    json.loads(dumps(asdict(meta)), parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


@given(st.integers(0, 40) | st.integers(41, 5000), st.integers(0, 2**32 - 1))
def test_metadata_nested_past_the_limit_is_a_model_error(levels, pattern):
    """Nesting up to MAX_META_DEPTH is read; deeper, even past the parser's recursion limit, is ModelError."""
    openers = ["{" if pattern >> (i % 32) & 1 else "[" for i in range(levels)]  # objects and lists, mixed
    value = "".join('{"k": ' if o == "{" else "[" for o in openers) + "0"
    value += "".join("}" if o == "{" else "]" for o in reversed(openers))
    text = f'{{"precision": "fp32", "source_sha256": "", "training": {{"x": {value}}}}}'
    depth = 2 + len(openers)  # the metadata object, `training`, then the value's levels
    try:
        ModelMeta.from_json(text, Path("fuzz.onnx"))
    except ModelError as e:
        assert depth > MAX_META_DEPTH and "levels deep" in str(e)
        return
    assert depth <= MAX_META_DEPTH


odd_crop_fields = {"size": st.integers(-10, 2000) | json_values, "mean": st.floats(-10, 300) | json_values,
                   "std": st.floats(-1, 300) | json_values, "colour": json_values}


@st.composite
def crop_records(draw) -> dict:
    """A well-formed crop record with some fields out of range or any JSON, some left out."""
    record = {"version": CROP_VERSION, "kind": "crop", "size": draw(st.integers(8, 1024)),
              "mean": draw(st.floats(0, 255)), "std": draw(st.floats(0.001, 255)), "colour": "RGB"}
    names = st.sampled_from(sorted(odd_crop_fields))
    for name in draw(st.sets(names, max_size=4)):
        record[name] = draw(odd_crop_fields[name])
    for name in draw(st.sets(names, max_size=2)):
        record.pop(name)
    return record


def well_formed_crop(record: dict) -> bool:
    """What a crop record must hold: size an int 8..1024, mean a pixel value, std 0.001..255, colour RGB."""
    size, mean, std = record.get("size"), record.get("mean"), record.get("std")

    def number(x: object) -> bool:
        return type(x) in (int, float) and math.isfinite(x)

    return (type(size) is int and 8 <= size <= 1024 and number(mean) and 0 <= mean <= 255 and number(std)
            and 0.001 <= std <= 255 and record.get("colour") == "RGB")


@given(crop_records())
def test_from_record_on_arbitrary_crop_records(record):
    """A crop record gives the Preparation it describes when every field is well-formed; else ModelError."""
    try:
        made = from_record(record, "fuzz.onnx")
    except ModelError:
        assert not well_formed_crop(record)
        return
    assert well_formed_crop(record)
    assert made == CentreCrop(record["size"], record["mean"], record["std"])


valid_crops = st.builds(CentreCrop, st.integers(8, 1024), st.floats(0, 255), st.floats(0.001, 255))


@given(images(), valid_crops, st.booleans())
def test_the_crop_gives_the_models_input_shape_for_any_image(image, preparation, raw):
    """Any image array through a valid crop record (read back from its metadata form) becomes the model's input
    shape, finite; or an ImageError."""
    preparation = from_record(preparation.record(), "fuzz.onnx")
    try:
        prepared = preparation.prepare(image, raw)
    except ImageError:
        return
    assert prepared.image.shape == preparation.image_shape and prepared.image.dtype == np.uint8
    x = preparation.to_input(prepared.image[None])
    assert x.shape == (1, *preparation.input_shape) and np.isfinite(x).all()
