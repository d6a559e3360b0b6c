"""CLI: scripts/export --checkpoint <dir|HF id> --output model.onnx --precision fp32|fp16 ..."""
import argparse
import os
import sys
import time

from . import EXPORTER_VERSION

DEFAULT_TOLERANCE = {"fp32": 1e-3, "fp16": 5e-2}


def build_parser():
    ap = argparse.ArgumentParser(prog="scripts/export", description=(
        "Export a Lotus checkpoint (diffusers layout) to one ONNX graph per docs/design.md, "
        "then check it with onnxruntime against PyTorch."))
    ap.add_argument("--checkpoint", required=True, help="local diffusers folder or Hugging Face id")
    ap.add_argument("--output", required=True, help="output .onnx path")
    ap.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    ap.add_argument("--task", choices=["depth", "normal"], help="default: from the checkpoint name")
    ap.add_argument("--mode", choices=["generation", "regression"],
                    help="default: from the name, else unet in_channels (8 = generation, 4 = regression)")
    ap.add_argument("--disparity", action="store_true", default=None,
                    help="depth model predicts disparity (default: from the name)")
    ap.add_argument("--processing-resolution", type=int, default=768,
                    help="default long edge written to metadata (0 = native)")
    ap.add_argument("--opset", type=int, default=21)
    ap.add_argument("--validate-size", default="64x96", help="HxW for the ORT check (multiples of 8)")
    ap.add_argument("--tolerance", type=float,
                    help=f"max abs error allowed (default {DEFAULT_TOLERANCE})")
    ap.add_argument("--source", help="value of lotus.source metadata (default: --checkpoint)")
    ap.add_argument("--no-validate", action="store_true", help="skip the onnxruntime check")
    return ap


def metadata(ck, precision, resolution):
    marks = {"lotus.random_weights": "true"} if ck.random_weights else {}
    return {**marks,
        "lotus.format_version": "1",
        "lotus.task": ck.task,
        "lotus.mode": ck.mode,
        "lotus.disparity": "true" if ck.disparity else "false",
        "lotus.processing_resolution": str(resolution),
        "lotus.size_multiple": "8",
        "lotus.latent_scale": f"{float(ck.vae.config.scaling_factor):g}",
        "lotus.timestep": "999",
        "lotus.precision": precision,
        "lotus.source": ck.source,
        "lotus.exporter_version": EXPORTER_VERSION,
    }


def run(args):
    from .checkpoint import load_checkpoint
    from .cpu_norms import rewrite_group_norms
    from .graph import LotusGraph
    from .onnx_export import export_graph, save, set_metadata
    from .precision import convert_fp16
    from .validate import parse_size, validate, validation_sizes

    if args.processing_resolution < 0:
        raise SystemExit("--processing-resolution must be >= 0")
    size = parse_size(args.validate_size)
    t0 = time.time()
    ck = load_checkpoint(args.checkpoint, args.task, args.mode, args.disparity)
    graph = LotusGraph(ck).eval()
    n_params = sum(p.numel() for p in graph.parameters())
    print(f"[export] {ck.source}: task={ck.task} mode={ck.mode} disparity={ck.disparity} "
          f"params={n_params / 1e6:.2f}M prompt={tuple(ck.prompt_embeds.shape)}")
    model = export_graph(graph, args.opset)
    if args.precision == "fp16":
        model = convert_fp16(model)  # keeps GroupNormalization (in FP32) for TensorRT
    else:
        # onnxruntime's CPU GroupNormalization loses precision on groups with a large mean.
        print(f"[export] fp32: {rewrite_group_norms(model)} GroupNormalization -> LayerNormalization (cpu_norms.py)")
    if args.source:
        ck.source = args.source
    set_metadata(model, metadata(ck, args.precision, args.processing_resolution))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    save(model, args.output)
    size_mb = sum(os.path.getsize(p) for p in (args.output, args.output + ".data") if os.path.exists(p)) / 2**20
    print(f"[export] wrote {args.output} ({size_mb:.2f} MiB) in {time.time() - t0:.1f} s")
    if args.no_validate:
        return 0
    tol = args.tolerance if args.tolerance is not None else DEFAULT_TOLERANCE[args.precision]
    ok, _ = validate(args.output, graph, args.precision, validation_sizes(graph, size), tol)
    return 0 if ok else 1


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
