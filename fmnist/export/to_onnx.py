"""Keras -> ONNX fp32 through tf2onnx.from_function (from_keras fails on Keras 3: tf2onnx#2448)."""

from __future__ import annotations

from typing import Any

from fmnist.core.meta import INPUT_BASE

OPSET = 17  # tf2onnx maps opsets up to 18; per-channel QDQ needs >= 13


def keras_to_onnx(model: Any) -> Any:
    """An onnx.ModelProto: input `image` (batch, *the model's input shape) float32 (28x28x1, or the photo tier's
    colour square), output `probs` (batch, labels)."""
    import onnx
    import tf2onnx

    from fmnist.core.tf import tf

    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_BASE["name"]),)

    @tf.function(input_signature=spec)
    def serve(x: Any) -> dict[str, Any]:
        return {"probs": model(x, training=False)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=OPSET)
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"  # tf2onnx names it unk__N
    onnx.checker.check_model(proto)
    return proto
