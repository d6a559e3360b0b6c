#!/usr/bin/env python3
"""The CPU backend against the official Lotus pipeline, on one photo-sized input.

    LOTUS_REPO=<Lotus checkout> PYTHONPATH=<diffusers>/src python scripts/parity_official.py \\
        --model /tmp/lotus-full/fp32/lotus-depth-g-random.onnx --checkpoint /tmp/lotus-full/lotus-depth-g-random \\
        [--lotus-repo <Lotus checkout>] [--image photo.png] [--processing-resolution 768]

lotus-trt side: `createEstimator(model, { backend: 'cpu' }).estimate(image, { noise })` through the
package's public API (dist/, so `npm run build:ts` first), in a Node child process.
PyTorch side: the official `LotusGPipeline` (pipeline.py of EnVision-Research/Lotus, imported from
--lotus-repo or $LOTUS_REPO, never copied) called as infer.py calls it (rgb in [-1, 1], task switcher,
prompt '', one step at t=999, output_type 'np', nearest resize back, depth = channel mean), in FP32
on the CPU without autocast, with two deliberate differences: the VAE latent is the posterior mean
(the package is deterministic; pipeline.py samples) and the noise is the `latents` argument, the same
tensor the package receives. Without --image, a 768x576 photo-like test image of this script's own
making is used (at processing resolution 768: no resize, no padding, identity resize-back).

Prints the max / mean abs error of the depth map and exits 1 when it is over --tolerance (1e-3).
G (generation) depth models only.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NODE_SIDE = r"""
const fs = require('fs');
const { createEstimator } = require(process.argv[1]);
const [model, image, noisePath, resolution, out] = process.argv.slice(2);
(async () => {
  const noise = new Float32Array(new Uint8Array(fs.readFileSync(noisePath)).buffer);
  const t0 = Date.now();
  const estimator = await createEstimator(model, { backend: 'cpu', onWarning: (m) => console.error(m) });
  const t1 = Date.now();
  const result = await estimator.estimate(image, { noise, processingResolution: Number(resolution) });
  const t2 = Date.now();
  fs.writeFileSync(out, Buffer.from(result.data.buffer, result.data.byteOffset, result.data.byteLength));
  console.log(JSON.stringify({ width: result.width, height: result.height, loadMs: t1 - t0, estimateMs: t2 - t1 }));
  await estimator.close();
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
"""


def photo_like(path, width=768, height=576, seed=0):
    """Sky gradient, a ground plane, boxes and a disc with shading, and sensor-like noise (8-bit RGB)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = 0.45 * height
    img = np.zeros((height, width, 3), np.float32)
    sky = y < horizon
    img[sky] = np.stack([120 + 60 * y / horizon, 160 + 50 * y / horizon, 235 - 20 * y / horizon], -1)[sky]
    ground = ~sky
    depth = (y - horizon) / (height - horizon)
    img[ground] = np.stack([90 + 80 * depth, 110 + 60 * depth, 60 + 30 * depth], -1)[ground]
    img[ground] *= (0.85 + 0.15 * np.sin(x / 9.0) * np.sin(y / 5.0))[ground, None]  # texture
    for x0, y0, w, h, col in ((80, 200, 180, 220, (180, 60, 50)), (420, 240, 120, 160, (60, 90, 170)),
                              (590, 300, 140, 100, (220, 200, 90))):
        img[y0:y0 + h, x0:x0 + w] = col
        img[y0:y0 + h, x0 + w - w // 4:x0 + w] *= 0.6  # shaded side
    disc = (x - 330) ** 2 + (y - 140) ** 2 < 60 ** 2
    img[disc] = (250, 240, 200)
    img += rng.normal(0, 3, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(path)


def official_depth(checkpoint, lotus_repo, image_path, noise, processing_res):
    import torch

    if lotus_repo not in sys.path:
        sys.path.insert(0, lotus_repo)
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from lotus_export.official import import_torchvision

    import_torchvision()  # before diffusers and transformers import it (official.py, 4)
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
    from PIL import Image
    from pipeline import LotusGPipeline
    from transformers import CLIPTextModel, CLIPTokenizer

    dtype = torch.float32
    pipe = LotusGPipeline(
        vae=AutoencoderKL.from_pretrained(checkpoint, subfolder="vae", torch_dtype=dtype),
        text_encoder=CLIPTextModel.from_pretrained(checkpoint, subfolder="text_encoder", torch_dtype=dtype),
        tokenizer=CLIPTokenizer.from_pretrained(checkpoint, subfolder="tokenizer"),
        unet=UNet2DConditionModel.from_pretrained(checkpoint, subfolder="unet", torch_dtype=dtype),
        scheduler=DDIMScheduler.from_pretrained(checkpoint, subfolder="scheduler"),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).to("cpu")
    pipe.set_progress_bar_config(disable=True)
    # The one change to the official computation: the posterior mean instead of a sample.
    DiagonalGaussianDistribution.sample = lambda self, generator=None: self.mean
    with torch.no_grad():  # infer.py, minus torch.autocast (FP32 here)
        rgb = np.array(Image.open(image_path).convert("RGB")).astype(np.float32)
        rgb = torch.tensor(rgb).permute(2, 0, 1).unsqueeze(0) / 127.5 - 1.0
        task_emb = torch.tensor([1, 0]).float().unsqueeze(0).repeat(1, 1)
        task_emb = torch.cat([torch.sin(task_emb), torch.cos(task_emb)], dim=-1).repeat(1, 1)
        t = time.time()
        pred = pipe(rgb_in=rgb, prompt="", num_inference_steps=1, generator=None, output_type="np",
                    timesteps=[999], task_emb=task_emb, processing_res=processing_res, match_input_res=True,
                    resample_method="bilinear", latents=torch.from_numpy(noise)).images[0]
    return pred.mean(axis=-1), time.time() - t


def resized_size(width, height, processing_res):
    """utils/image_utils.py resize_max_res: int(side * min(res / w, res / h))."""
    if processing_res == 0:
        return width, height
    s = min(processing_res / width, processing_res / height)
    return int(width * s), int(height * s)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="FP32 ONNX export of --checkpoint")
    ap.add_argument("--checkpoint", required=True, help="the diffusers checkpoint folder it was exported from")
    ap.add_argument("--lotus-repo", default=os.environ.get("LOTUS_REPO"),
                    help="checkout of EnVision-Research/Lotus (default: $LOTUS_REPO)")
    ap.add_argument("--image", help="input image (default: a 768x576 test image made here)")
    ap.add_argument("--processing-resolution", type=int, default=768)
    ap.add_argument("--seed", type=int, default=0, help="seed of the torch.randn noise")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    ap.add_argument("--node", default="node")
    a = ap.parse_args(argv)
    if not a.lotus_repo or not os.path.exists(os.path.join(a.lotus_repo, "pipeline.py")):
        raise SystemExit(f"--lotus-repo {a.lotus_repo}: no pipeline.py (a checkout of EnVision-Research/Lotus; or set LOTUS_REPO)")
    dist = os.path.join(ROOT, "dist", "index.js")
    if not os.path.exists(dist):
        raise SystemExit(f"{dist} missing: run `npm run build:ts` first")

    import torch
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="lotus-parity-") as work:
        image = a.image
        if image is None:
            image = os.path.join(work, "photo-like-768x576.png")
            photo_like(image)
        with Image.open(image) as im:
            width, height = im.size
        rw, rh = resized_size(width, height, a.processing_resolution)
        noise = torch.randn((1, 4, rh // 8, rw // 8), generator=torch.Generator().manual_seed(a.seed)).numpy()
        noise_path = os.path.join(work, "noise.f32")
        noise.astype(np.float32).tofile(noise_path)
        ours_path = os.path.join(work, "ours.f32")
        # The package first, in its own process: the two never hold the full-size model at once.
        proc = subprocess.run([a.node, "-e", NODE_SIDE, dist, os.path.abspath(a.model), image, noise_path,
                               str(a.processing_resolution), ours_path], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"lotus-trt side failed:\n{proc.stderr[-3000:]}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        ours = np.fromfile(ours_path, np.float32).reshape(info["height"], info["width"])
        ref, ref_s = official_depth(a.checkpoint, a.lotus_repo, image, noise, a.processing_resolution)
    err = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    ok = err.max() <= a.tolerance
    print(f"input {os.path.basename(image)} {width}x{height}, processing resolution {a.processing_resolution} "
          f"(network {rw}x{rh}), noise torch.randn seed {a.seed} {list(noise.shape)}")
    print(f"lotus-trt CPU backend: load {info['loadMs'] / 1000:.1f} s, estimate {info['estimateMs'] / 1000:.1f} s; "
          f"official LotusGPipeline (FP32, CPU): {ref_s:.1f} s")
    inside = float(((ref > 0) & (ref < 1)).mean())  # clamped pixels agree trivially
    print(f"depth in [{ref.min():.4f}, {ref.max():.4f}], {100 * inside:.1f} % of pixels strictly inside (0, 1): "
          f"max abs error {err.max():.3g}, mean {err.mean():.3g}, p99.9 {np.percentile(err, 99.9):.3g} -> "
          f"{'OK' if ok else 'FAILED'} (tolerance {a.tolerance:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
