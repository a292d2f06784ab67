"""The part of ONNX's protobuf schema (onnx/onnx.proto) that the model check reads, declared to protobuf here so that
the runtime parses a model file without the `onnx` package (which the runtime never imports).

Field numbers are onnx.proto's. Fields left out are kept by protobuf as unknown fields and never read; a field that
holds a subgraph (`AttributeProto.g`, `graphs`) is declared as bytes so that its presence is seen without parsing it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "fmnist_onnx"

# message -> (field name, number, type, repeated, message type name)
_MESSAGES: dict[str, list[tuple[str, int, int, bool, str | None]]] = {
    "OperatorSetIdProto": [("domain", 1, _F.TYPE_STRING, False, None), ("version", 2, _F.TYPE_INT64, False, None)],
    "StringStringEntryProto": [("key", 1, _F.TYPE_STRING, False, None), ("value", 2, _F.TYPE_STRING, False, None)],
    "ModelProto": [
        ("ir_version", 1, _F.TYPE_INT64, False, None),
        ("opset_import", 8, _F.TYPE_MESSAGE, True, "OperatorSetIdProto"),
        ("graph", 7, _F.TYPE_MESSAGE, False, "GraphProto"),
        ("metadata_props", 14, _F.TYPE_MESSAGE, True, "StringStringEntryProto"),
        ("functions", 25, _F.TYPE_BYTES, True, None),
    ],
    "GraphProto": [
        ("node", 1, _F.TYPE_MESSAGE, True, "NodeProto"),
        ("initializer", 5, _F.TYPE_MESSAGE, True, "TensorProto"),
        ("sparse_initializer", 15, _F.TYPE_BYTES, True, None),
        ("input", 11, _F.TYPE_MESSAGE, True, "ValueInfoProto"),
        ("output", 12, _F.TYPE_MESSAGE, True, "ValueInfoProto"),
    ],
    "NodeProto": [
        ("input", 1, _F.TYPE_STRING, True, None),
        ("output", 2, _F.TYPE_STRING, True, None),
        ("name", 3, _F.TYPE_STRING, False, None),
        ("op_type", 4, _F.TYPE_STRING, False, None),
        ("domain", 7, _F.TYPE_STRING, False, None),
        ("attribute", 5, _F.TYPE_MESSAGE, True, "AttributeProto"),
    ],
    "AttributeProto": [
        ("name", 1, _F.TYPE_STRING, False, None),
        ("ref_attr_name", 21, _F.TYPE_STRING, False, None),
        ("type", 20, _F.TYPE_INT32, False, None),
        ("f", 2, _F.TYPE_FLOAT, False, None),
        ("i", 3, _F.TYPE_INT64, False, None),
        ("s", 4, _F.TYPE_BYTES, False, None),
        ("t", 5, _F.TYPE_MESSAGE, False, "TensorProto"),
        ("g", 6, _F.TYPE_BYTES, False, None),
        ("floats", 7, _F.TYPE_FLOAT, True, None),
        ("ints", 8, _F.TYPE_INT64, True, None),
        ("tensors", 10, _F.TYPE_BYTES, True, None),
        ("graphs", 11, _F.TYPE_BYTES, True, None),
        ("sparse_tensor", 22, _F.TYPE_BYTES, False, None),
        ("sparse_tensors", 23, _F.TYPE_BYTES, True, None),
    ],
    "TensorProto": [
        ("dims", 1, _F.TYPE_INT64, True, None),
        ("data_type", 2, _F.TYPE_INT32, False, None),
        ("float_data", 4, _F.TYPE_FLOAT, True, None),
        ("int32_data", 5, _F.TYPE_INT32, True, None),
        ("string_data", 6, _F.TYPE_BYTES, True, None),
        ("int64_data", 7, _F.TYPE_INT64, True, None),
        ("name", 8, _F.TYPE_STRING, False, None),
        ("raw_data", 9, _F.TYPE_BYTES, False, None),
        ("double_data", 10, _F.TYPE_DOUBLE, True, None),
        ("uint64_data", 11, _F.TYPE_UINT64, True, None),
        ("external_data", 13, _F.TYPE_MESSAGE, True, "StringStringEntryProto"),
        ("data_location", 14, _F.TYPE_INT32, False, None),
    ],
    "ValueInfoProto": [("name", 1, _F.TYPE_STRING, False, None), ("type", 2, _F.TYPE_MESSAGE, False, "TypeProto")],
    "TypeProto": [
        ("tensor_type", 1, _F.TYPE_MESSAGE, False, "TensorTypeProto"),
        ("sequence_type", 4, _F.TYPE_BYTES, False, None),
        ("map_type", 5, _F.TYPE_BYTES, False, None),
        ("sparse_tensor_type", 8, _F.TYPE_BYTES, False, None),
        ("optional_type", 9, _F.TYPE_BYTES, False, None),
    ],
    "TensorTypeProto": [("elem_type", 1, _F.TYPE_INT32, False, None),
                        ("shape", 2, _F.TYPE_MESSAGE, False, "TensorShapeProto")],
    "TensorShapeProto": [("dim", 1, _F.TYPE_MESSAGE, True, "Dimension")],
    "Dimension": [("dim_value", 1, _F.TYPE_INT64, False, None), ("dim_param", 2, _F.TYPE_STRING, False, None)],
}


@cache
def model_class() -> Any:
    """The ModelProto message class of this schema (made once)."""
    file = descriptor_pb2.FileDescriptorProto(name="fmnist_onnx_subset.proto", package=_PACKAGE, syntax="proto2")
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, repeated, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind,
                                      label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if type_name:
                field.type_name = f".{_PACKAGE}.{type_name}"
            if repeated and kind not in (_F.TYPE_STRING, _F.TYPE_BYTES, _F.TYPE_MESSAGE):
                field.options.packed = True  # onnx.proto is proto2 with [packed] off, but parsers take both
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.ModelProto"))
