"""Lotus -> ONNX exporter (see docs/export.md). Python >= 3.10, torch, diffusers source, transformers."""

EXPORTER_VERSION = "1.2.0"  # 1.1: lotus.random_weights; 1.2: fp32 GroupNorm as LayerNormalization
