"""Export: Keras -> ONNX (fp32, int8) and TFLite (fp32, fp16, int8), metadata, and the parity gate."""
