"""Lotus -> ONNX exporter (see docs/export.md). Python >= 3.10, torch, diffusers source, transformers."""

EXPORTER_VERSION = "1.0.0"
