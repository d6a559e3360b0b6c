"""scripts/gpu-check: everything this package can check on a GPU machine, in one command (docs/gpu-check.md)."""
