"""Regenerate test/fixtures/ (models, images, reference outputs, manifest.json).

    PYTHONPATH=<diffusers>/src python3 -m lotus_export.fixtures --lotus <Lotus checkout> [--out test/fixtures]

Models come from tiny.py checkpoints through the exporter CLI. Reference outputs come from the
official Lotus code: infer.py's main() on the same checkpoints (official.py says exactly what is
patched around it: FP32 without autocast, the VAE posterior mean, captures). Never from this
repository's own pipeline, whose mistakes they would repeat.

Per case (reference/<id>/): output.png, the official .npy (depth HxW, or the normal prediction
HxWx3 in [0, 1]) as a 16-bit PNG (within 7.6e-6); color.png, the PNG infer.py writes; noise.npy,
the noise the official G pipeline drew; for the small images also input.npy (the resized network
input) and raw.npy (the decoded prediction), for stage-by-stage tests."""
import argparse
import json
import os
import shutil
import tempfile

import numpy as np

from . import EXPORTER_VERSION
from .fixture_images import EXIF_DISPLAYED, PHOTOS, SMALL, SPECIAL, make_images

# name -> (tiny mode, checkpoint folder name the task/mode/disparity are inferred from, precision)
MODELS = {
    "tiny-depth-g": ("generation", "lotus-depth-g-tiny", "fp32"),
    "tiny-normal-d": ("regression", "lotus-normal-d-tiny", "fp32"),
    "tiny-depth-d-disparity": ("regression", "lotus-depth-d-tiny-disparity", "fp32"),
    "tiny-depth-g.fp16": ("generation", "lotus-depth-g-tiny", "fp16"),
}
ALL_FP32 = ("tiny-depth-g", "tiny-normal-d", "tiny-depth-d-disparity")
# (images, processing resolutions, models). To keep the fixtures small (their references are at the
# input size, and random weights give incompressible maps), the photo-sized images skip the
# disparity model (it has the normal model's weights; the other images pin its reversed colormap)
# and run the normal model at 768 only (the other images cover normals at 0).
GROUPS = (
    (SMALL, (64, 0), ALL_FP32),
    (("gradient-64x48.png",), (128,), ALL_FP32),  # upscaling: processing resolution above the long edge
    (PHOTOS, (768, 0), ("tiny-depth-g",)),
    (PHOTOS, (768,), ("tiny-normal-d",)),
    (SPECIAL, (768, 0), ALL_FP32),
)
# The EXIF JPEG auto-oriented (the package's default) must predict what the official code predicts
# on the image as displayed.
AUTO_ORIENT = ("exif-rotated-240x160.jpg", EXIF_DISPLAYED)
SEED = 0


def _stem(name):
    return os.path.splitext(name)[0]


def _official_runs(lotus, checkpoints, images, workdir):
    """{(model, resolution): {image name: (npy, png path, captures)}} from infer.py, one run per pair."""
    from .official import run_infer

    wanted = {}
    for names, resolutions, models in GROUPS:
        for model in models:
            for res in resolutions:
                wanted.setdefault((model, res), set()).update(names)
    for model in ALL_FP32:
        for res in (768, 0):
            wanted[(model, res)].add(AUTO_ORIENT[1])
    runs = {}
    for (model, res), names in sorted(wanted.items()):
        ck, task, mode, disparity = checkpoints[model]
        src = os.path.join(workdir, f"in-{model}-r{res}")
        out = os.path.join(workdir, f"out-{model}-r{res}")
        os.makedirs(src)
        for name in names:
            shutil.copy(images[name], os.path.join(src, name))
        captures = run_infer(ck, task, mode, disparity, res, src, out, seed=SEED, lotus_dir=lotus)
        runs[(model, res)] = {
            name: (np.load(os.path.join(out, task, _stem(name) + ".npy")),
                   os.path.join(out, f"{task}_vis", _stem(name) + ".png"), captures[_stem(name)])
            for name in names}
        print(f"[fixtures] official infer.py: {model} at {res}: {len(names)} images")
    return runs


def main(argv=None):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(root, "test", "fixtures"))
    ap.add_argument("--lotus", default=os.environ.get("LOTUS_REPO"),
                    help="checkout of EnVision-Research/Lotus (default: $LOTUS_REPO)")
    a = ap.parse_args(argv)

    from .official import import_torchvision

    import_torchvision()
    import onnxruntime as ort

    from . import png16
    from .checkpoint import load_checkpoint
    from .export import main as export_main
    from .tiny import make_tiny

    out = a.out
    if os.path.isdir(os.path.join(out, "reference")):
        shutil.rmtree(os.path.join(out, "reference"))
    images = make_images(os.path.join(out, "images"))
    work = tempfile.mkdtemp(prefix="lotus-fixtures-")
    manifest = {"format": 2, "exporter_version": EXPORTER_VERSION,
                "reference": "EnVision-Research/Lotus infer.py (scripts/lotus_export/official.py)",
                "output_quantization": 1 / 65535, "models": {}, "cases": []}
    try:
        checkpoints = {}
        for name, (mode, ckname, precision) in MODELS.items():
            ck_path = os.path.join(work, ckname)
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
            else:
                checkpoints[name] = (ck_path, ck.task, ck.mode, ck.disparity)
        runs = _official_runs(a.lotus, checkpoints, images, work)

        sessions = {m: ort.InferenceSession(os.path.join(out, m + ".onnx"), providers=["CPUExecutionProvider"])
                    for m in ALL_FP32}
        cases = []
        for names, resolutions, models in GROUPS:
            cases += [(m, n, r, n, False) for n in names for r in resolutions for m in models]
        cases += [(m, AUTO_ORIENT[0], r, AUTO_ORIENT[1], True) for m in ALL_FP32 for r in (768, 0)]
        for model, image, res, reference_image, auto_orient in cases:
            npy, png, cap = runs[(model, res)][reference_image]
            task = manifest["models"][model]["task"]
            case = f"{model}__{_stem(image)}__r{res}" + ("__oriented" if auto_orient else "")
            cdir = os.path.join(out, "reference", case)
            os.makedirs(cdir, exist_ok=True)
            png16.write(os.path.join(cdir, "output.png"), npy)
            shutil.copy(png, os.path.join(cdir, "color.png"))
            files = {"output": "output.png", "color": "color.png"}
            feeds = {"image": cap["input"]}
            if "noise" in cap:
                np.save(os.path.join(cdir, "noise.npy"), cap["noise"].astype(np.float32))
                files["noise"] = "noise.npy"
                feeds["noise"] = cap["noise"]
            if image in SMALL:
                np.save(os.path.join(cdir, "input.npy"), cap["input"].astype(np.float32))
                np.save(os.path.join(cdir, "raw.npy"), cap["raw"].astype(np.float32))
                files.update(input="input.npy", raw="raw.npy")
            ort_raw = sessions[model].run(["prediction"], feeds)[0]
            err = float(np.abs(ort_raw - cap["raw"]).max())
            h, w = npy.shape[:2]
            cases_entry = {
                "id": case, "model": model, "image": f"images/{image}", "width": int(w), "height": int(h),
                "processing_resolution": res, "auto_orient": auto_orient,
                "network": {"width": int(cap["input"].shape[3]), "height": int(cap["input"].shape[2])},
                "prediction": {"width": int(cap["raw"].shape[3]), "height": int(cap["raw"].shape[2])},
                "dir": f"reference/{case}", "files": files,
                "measured_ort_fp32_raw_max_abs_err": err,
            }
            manifest["cases"].append(cases_entry)
            print(f"[fixtures] {case}: network {cases_entry['network']} prediction {cases_entry['prediction']} "
                  f"ORT err {err:.2e} ({task})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    manifest["tolerance_notes"] = (
        "output.png: the official .npy as round(v * 65535) (within 7.6e-6). raw.npy: the official "
        "decoded prediction; onnxruntime fp32 on the CPU matched it within measured_ort_fp32_raw_max_abs_err "
        "(float accumulation order). color.png: infer.py's PNG; a depth difference near a colormap bin edge "
        "can move one pixel to the neighbouring colour.")
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"[fixtures] wrote {len(manifest['cases'])} cases to {out}")


if __name__ == "__main__":
    main()
