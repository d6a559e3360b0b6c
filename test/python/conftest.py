"""Make scripts/ importable; skip the whole suite (with the reason) when the export stack is absent.

CI runs the Node suite without torch or diffusers; these tests need both."""
import importlib.util
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

_MISSING = [m for m in ("torch", "onnx", "onnxruntime", "transformers", "diffusers", "PIL", "matplotlib")
            if importlib.util.find_spec(m) is None]


def pytest_collection_modifyitems(config, items):
    if _MISSING:
        skip = pytest.mark.skip(reason=f"export stack not importable ({', '.join(_MISSING)} missing); "
                                        "see docs/export.md (diffusers src on PYTHONPATH)")
        for item in items:
            item.add_marker(skip)
