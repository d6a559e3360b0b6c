"""Regenerate test/fixtures/ (models, images, reference outputs, manifest.json).

    PYTHONPATH=<diffusers>/src python3 -m lotus_export.fixtures [--out test/fixtures]

Models come from tiny.py checkpoints through the exporter CLI; reference outputs come from the
PyTorch reference pipeline (reference.py), never from the ONNX. ORT-vs-reference errors are
recorded in the manifest so consumers can pick tolerances from measured numbers."""
import argparse
import json
import os
import shutil
import tempfile

import numpy as np

from . import EXPORTER_VERSION

# name -> (tiny mode, checkpoint folder name the task/mode/disparity are inferred from, precision)
MODELS = {
    "tiny-depth-g": ("generation", "lotus-depth-g-tiny", "fp32"),
    "tiny-normal-d": ("regression", "lotus-normal-d-tiny", "fp32"),
    "tiny-depth-d-disparity": ("regression", "lotus-depth-d-tiny-disparity", "fp32"),
    "tiny-depth-g.fp16": ("generation", "lotus-depth-g-tiny", "fp16"),
}
RESOLUTIONS = (64, 0)
# Upscaling (a processing resolution above the image's long edge): one image pins the reference's
# bilinear upsampling and the nearest resize back down.
UPSCALE_CASES = {"gradient-64x48.png": 128}
SEED = 0


def make_images(d):
    """Deterministic test images (names are WIDTHxHEIGHT)."""
    from PIL import Image, ImageDraw

    os.makedirs(d, exist_ok=True)
    y, x = np.mgrid[0:48, 0:64]
    grad = np.stack([x * 255 // 63, y * 255 // 47, (x + y) * 255 // 110], -1).astype(np.uint8)
    Image.fromarray(grad, "RGB").save(os.path.join(d, "gradient-64x48.png"))

    im = Image.new("RGBA", (97, 61), (30, 60, 90, 255))
    dr = ImageDraw.Draw(im)
    dr.ellipse((5, 5, 50, 55), fill=(220, 40, 40, 255))
    dr.rectangle((45, 10, 90, 40), fill=(40, 200, 80, 128))  # half-transparent: alpha must be dropped
    dr.polygon([(60, 58), (95, 58), (80, 30)], fill=(250, 240, 20, 0))  # fully transparent
    im.save(os.path.join(d, "shapes-97x61-rgba.png"))

    y, x = np.mgrid[0:120, 0:40]
    tall = np.stack([(np.sin(y / 7.0) * 127 + 128), x * 6, 255 - y * 2], -1).clip(0, 255).astype(np.uint8)
    Image.fromarray(tall, "RGB").save(os.path.join(d, "tall-40x120.png"))
    return ["gradient-64x48.png", "shapes-97x61-rgba.png", "tall-40x120.png"]


def main(argv=None):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(root, "test", "fixtures"))
    a = ap.parse_args(argv)

    import onnxruntime as ort

    from .checkpoint import load_checkpoint
    from .export import main as export_main
    from .graph import LotusGraph
    from .reference import colorize, load_rgb, run
    from .tiny import make_tiny

    out = a.out
    os.makedirs(out, exist_ok=True)
    images = make_images(os.path.join(out, "images"))
    ckdir = tempfile.mkdtemp(prefix="lotus-tiny-")
    manifest = {"format": 1, "exporter_version": EXPORTER_VERSION, "seed_note":
                "G noise: torch.Generator().manual_seed(0) randn [1,4,Hp/8,Wp/8], saved as noise.npy",
                "models": {}, "cases": []}
    try:
        for name, (mode, ckname, precision) in MODELS.items():
            ck_path = os.path.join(ckdir, ckname)
            if not os.path.isdir(ck_path):
                make_tiny(ck_path, mode, seed=0 if mode == "generation" else 1)
            onnx_path = os.path.join(out, name + ".onnx")
            rc = export_main(["--checkpoint", ck_path, "--output", onnx_path, "--precision", precision,
                              "--source", f"tiny:{ckname}", "--validate-size", "64x96"])
            if rc:
                raise SystemExit(f"export of {name} failed validation")
            ck = load_checkpoint(ck_path)
            manifest["models"][name] = {"file": name + ".onnx", "task": ck.task, "mode": ck.mode,
                                        "disparity": ck.disparity, "precision": precision,
                                        "checkpoint": f"scripts/lotus_export/tiny.py --mode {mode}"}
            if precision != "fp32":
                manifest["models"][name]["reference_model"] = name.split(".")[0]
                continue  # fp16 cases reuse the fp32 model's references (same weights)
            graph = LotusGraph(ck).eval()
            sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            for img in images:
                rgb = load_rgb(os.path.join(out, "images", img))
                for res in RESOLUTIONS + ((UPSCALE_CASES[img],) if img in UPSCALE_CASES else ()):
                    case = f"{name}__{os.path.splitext(img)[0]}__r{res}"
                    cdir = os.path.join(out, "reference", case)
                    os.makedirs(cdir, exist_ok=True)
                    r = run(graph, rgb, res, ck.task, seed=SEED)
                    files = {"input": "input.npy", "raw": "raw.npy", "output": "output.npy"}
                    np.save(os.path.join(cdir, "input.npy"), r["input"].numpy().astype(np.float32))
                    np.save(os.path.join(cdir, "raw.npy"), r["raw"].numpy().astype(np.float32))
                    np.save(os.path.join(cdir, "output.npy"), r["output"].astype(np.float32))
                    feeds = {"image": r["input"].numpy()}
                    if r["noise"] is not None:
                        np.save(os.path.join(cdir, "noise.npy"), r["noise"].numpy().astype(np.float32))
                        files["noise"] = "noise.npy"
                        feeds["noise"] = r["noise"].numpy()
                    if ck.task == "depth":
                        np.save(os.path.join(cdir, "colorized.npy"), colorize(r["output"], ck.disparity))
                        files["colorized"] = "colorized.npy"
                    ort_raw = sess.run(["prediction"], feeds)[0]
                    err = float(np.abs(ort_raw - r["raw"].numpy()).max())
                    manifest["cases"].append({
                        "id": case, "model": name, "image": f"images/{img}",
                        "width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
                        "processing_resolution": res,
                        "resized": {"width": r["resized_hw"][1], "height": r["resized_hw"][0]},
                        "padded": {"width": int(r["padded_hw"][1]), "height": int(r["padded_hw"][0])},
                        "dir": f"reference/{case}", "files": files,
                        "measured_ort_fp32_raw_max_abs_err": err,
                    })
                    print(f"[fixtures] {case}: resized {r['resized_hw']} padded {r['padded_hw']} ORT err {err:.2e}")
    finally:
        shutil.rmtree(ckdir, ignore_errors=True)
    manifest["tolerance_notes"] = (
        "input.npy: the reference preprocessing (float32); a C++ reimplementation of the antialiased "
        "bilinear resize should match within ~1e-5 (float rounding order), exactly when no resize. "
        "raw.npy: PyTorch network output; ORT fp32 CPU matched within measured_ort_fp32_raw_max_abs_err "
        "(up to ~8e-5 measured on CPU): use 5e-4 for fp32 backends, ~5e-2 abs for the fp16 model (measured by the exporter's "
        "validation on random inputs). output.npy: clamp/crop/nearest/mean (depth) or unit normals; "
        "same tolerance as raw. colorized.npy: uint8 RGB; an input difference near a colormap bin edge "
        "flips one entry, so allow a few pixels off by one bin when the depth is not bit-exact.")
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"[fixtures] wrote {len(manifest['cases'])} cases to {out}")


if __name__ == "__main__":
    main()
