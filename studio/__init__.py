"""Model Conversion Studio: PyTorch / TensorFlow -> ONNX -> SavedModel / TFLite, proven by an output diff."""

__version__ = "0.1.0"
