#!/usr/bin/env python3
"""Peer benchmark: Lotus run the way its users run it today, with diffusers + PyTorch.

Reproduces EnVision-Research/Lotus infer.py + pipeline.py (LotusGPipeline / LotusDPipeline) step by
step on the checkpoint's diffusers components, timing each stage: decode (PIL, as infer.py),
copy (host -> device), preprocess (resize_max_res: bilinear, antialias), inference (empty-prompt
encoding, VAE encode, one UNet step at t=999, VAE decode), postprocess (denormalise, to numpy,
nearest resize back (torchvision NEAREST_EXACT, Lotus's "nearest") to the input size, channel mean for depth). FP16 on CUDA (infer.py
--half_precision), FP32 on the CPU (no autocast). torchvision is not required: its tensor resize is
torch.nn.functional.interpolate with the same arguments.

Prints one JSON document on stdout with the same fields as `lotus bench --json`
(docs/benchmarks.md); logs go to stderr. Exit code 3 with {"error": ...} when torch/diffusers or
the checkpoint cannot be used, so `lotus bench --peer-checkpoint` can say why.
"""
import argparse
import datetime
import json
import os
import platform
import sys
import time

SCHEMA = "lotus-bench/1"
STAGES = ("decode", "preprocess", "inference", "postprocess", "copy", "total")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fail(code, message):
    print(json.dumps({"schema": SCHEMA, "tool": "pytorch-reference",
                      "error": {"code": code, "message": message}}))
    sys.exit(3)


# ---------------------------------------------------------------------------------------------
# Statistics: linear interpolation between closest ranks (numpy.percentile default), as
# lib/bench/stats.ts, so both sides report comparable numbers.

def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    rank = q / 100 * (len(s) - 1)
    lo, hi = int(rank // 1), int(-(-rank // 1))
    return s[lo] + (s[hi] - s[lo]) * (rank - lo)


def summarize(values):
    if not values:
        return {"count": 0, "mean": None, "min": None, "max": None, "p50": None, "p90": None, "p99": None}
    return {"count": len(values), "mean": sum(values) / len(values), "min": min(values),
            "max": max(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99)}


def stage_summary(timings):
    out = {}
    for stage in STAGES:
        vals = [t[stage] for t in timings if stage in t]
        if vals:
            out[stage] = {"mean": sum(vals) / len(vals), "p50": percentile(vals, 50)}
    return out


# ---------------------------------------------------------------------------------------------
# Inputs

def synthetic_image(width, height):
    """Same pattern as lib/bench/synthetic.ts: R = x ramp, G = y ramp, B = (7x + 13y) mod 256."""
    import numpy as np
    x = np.arange(width, dtype=np.int64)[None, :]
    y = np.arange(height, dtype=np.int64)[:, None]
    r = (255 * x) // max(width - 1, 1) + 0 * y
    g = (255 * y) // max(height - 1, 1) + 0 * x
    b = (7 * x + 13 * y) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def detect_random_weights(checkpoint, explicit):
    if explicit:
        return "random"
    try:
        with open(os.path.join(checkpoint, "model_index.json")) as f:
            index = json.load(f)
        if index.get("_lotus_random_weights") is True:
            return "random"
    except (OSError, ValueError):
        pass
    if os.path.exists(os.path.join(checkpoint, "RANDOM_WEIGHTS")):
        return "random"
    return "unknown"


# ---------------------------------------------------------------------------------------------
# The pipeline (pipeline.py LotusGPipeline.__call__ / LotusDPipeline.__call__; a batch stacks the
# decoded images into one call, as the pipeline's batched tensors allow)

class LotusReference:
    def __init__(self, checkpoint, device, dtype, seed):
        import torch
        from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        self.torch = torch
        self.device = device
        self.dtype = dtype
        self.vae = AutoencoderKL.from_pretrained(checkpoint, subfolder="vae", torch_dtype=dtype).to(device).eval()
        self.unet = UNet2DConditionModel.from_pretrained(checkpoint, subfolder="unet", torch_dtype=dtype).to(device).eval()
        self.text_encoder = CLIPTextModel.from_pretrained(checkpoint, subfolder="text_encoder", torch_dtype=dtype).to(device).eval()
        self.tokenizer = CLIPTokenizer.from_pretrained(checkpoint, subfolder="tokenizer")
        self.scheduler = DDIMScheduler.from_pretrained(checkpoint, subfolder="scheduler")
        self.generation = self.unet.config.in_channels == 8
        self.scaling = self.vae.config.scaling_factor
        self.vae_scale = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def encode_prompt(self):
        ids = self.tokenizer("", padding="do_not_pad", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        return self.text_encoder(ids.to(self.device))[0].to(self.dtype)

    def __call__(self, path, processing_res, task, batch=1):
        import numpy as np
        import torch
        import torch.nn.functional as F
        from PIL import Image

        t = {}
        t0 = time.perf_counter()
        # infer.py: PIL decode -> float32 NCHW in [-1, 1]
        def decode():
            if isinstance(path, np.ndarray):
                return path.astype(np.float32)
            return np.array(Image.open(path).convert("RGB")).astype(np.float32)
        rgb = torch.stack([torch.tensor(decode()).permute(2, 0, 1) for _ in range(batch)]) / 127.5 - 1.0
        t1 = time.perf_counter()
        rgb = rgb.to(self.device)  # float32 as infer.py; cast before the VAE as its autocast does
        self.sync()
        t2 = time.perf_counter()
        in_h, in_w = rgb.shape[-2:]
        if processing_res > 0:  # utils/image_utils.py resize_max_res
            s = min(processing_res / in_w, processing_res / in_h)
            rgb = F.interpolate(rgb, size=(int(in_h * s), int(in_w * s)), mode="bilinear",
                                align_corners=False, antialias=True)
        self.sync()
        t3 = time.perf_counter()
        with torch.no_grad():
            rgb = rgb.to(self.dtype)
            prompt_embeds = self.encode_prompt()
            task_emb = torch.tensor([1, 0], device=self.device).float().unsqueeze(0)
            task_emb = torch.cat([torch.sin(task_emb), torch.cos(task_emb)], dim=-1).to(self.dtype).repeat(batch, 1)
            prompt_embeds = prompt_embeds.repeat(batch, 1, 1)
            timestep = torch.tensor([999], device=self.device).long()[0]
            rgb_latents = self.vae.encode(rgb).latent_dist.sample(self.generator) * self.scaling
            if self.generation:
                h, w = rgb.shape[2:]
                noise = torch.randn((batch, self.unet.config.in_channels // 2, h // self.vae_scale, w // self.vae_scale),
                                    generator=self.generator, device=self.device, dtype=self.dtype)
                noise = self.scheduler.scale_model_input(noise * self.scheduler.init_noise_sigma, timestep)
                unet_in = torch.cat([rgb_latents, noise], dim=1)
            else:
                unet_in = rgb_latents
            pred = self.unet(unet_in, timestep, encoder_hidden_states=prompt_embeds,
                             return_dict=False, class_labels=task_emb)[0]
            image = self.vae.decode(pred / self.scaling, return_dict=False)[0]
        self.sync()
        t4 = time.perf_counter()
        # VaeImageProcessor.postprocess(output_type="np"): denormalise, to host numpy NHWC
        image = (image / 2 + 0.5).clamp(0, 1).cpu().permute(0, 2, 3, 1).float().numpy()
        t5 = time.perf_counter()
        # resize_back(np, input size, NEAREST_EXACT) then infer.py's channel mean for depth
        back = torch.tensor(image).permute(0, 3, 1, 2)
        back = F.interpolate(back, size=(in_h, in_w), mode="nearest-exact")  # torchvision NEAREST_EXACT, as resize_back uses
        pred_np = back.permute(0, 2, 3, 1).numpy()
        out = [p.mean(axis=-1) if task == "depth" else p for p in pred_np]
        t6 = time.perf_counter()
        ms = 1000.0
        t["decode"] = (t1 - t0) * ms
        t["copy"] = ((t2 - t1) + (t5 - t4)) * ms
        t["preprocess"] = (t3 - t2) * ms
        t["inference"] = (t4 - t3) * ms
        t["postprocess"] = (t6 - t5) * ms
        t["total"] = (t6 - t0) * ms
        return out, t


# ---------------------------------------------------------------------------------------------

def device_facts(torch, device):
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return {"kind": "gpu", "name": p.name, "computeCapability": f"{p.major}.{p.minor}",
                "totalMemory": p.total_memory, "torchCuda": torch.version.cuda}
    return {"kind": "cpu", "name": cpu_model(), "cpus": os.cpu_count(), "threads": torch.get_num_threads()}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_bytes():
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def parse_list(text):
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="diffusers checkpoint folder (unet/, vae/, text_encoder/, ...)")
    ap.add_argument("--task", choices=["depth", "normal"], required=True)
    ap.add_argument("--resolutions", default="768", help="processing resolutions, e.g. 384,768")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--image", help="input image (default: synthetic)")
    ap.add_argument("--synthetic", default="1920x1080", help="synthetic input size WxH when no --image")
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=1, help="images per pipeline call")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--random-weights", action="store_true", help="mark the checkpoint's weights as random")
    a = ap.parse_args(argv)

    if a.iterations < 1 or a.warmup < 0 or a.batch < 1:
        fail("INVALID_ARGUMENT", "--iterations and --batch must be >= 1 and --warmup >= 0")
    try:
        resolutions = parse_list(a.resolutions)
    except ValueError:
        fail("INVALID_ARGUMENT", f"--resolutions must be a comma-separated list of integers: {a.resolutions}")
    if not os.path.isdir(a.checkpoint):
        fail("CHECKPOINT", f"not a folder: {a.checkpoint}")

    try:
        import numpy as np
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means no peer
        fail("PEER_UNAVAILABLE", f"torch/numpy not importable with {sys.executable}: {e}")
    try:
        import diffusers
        import transformers
    except Exception as e:  # noqa: BLE001
        fail("PEER_UNAVAILABLE", f"diffusers/transformers not importable with {sys.executable}: {type(e).__name__}: {e}")

    load_average = os.getloadavg()[0]  # before we add load: how busy the machine already was
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif a.device == "cuda" and not torch.cuda.is_available():
        fail("PEER_UNAVAILABLE", "--device cuda but torch sees no CUDA device")
    else:
        device = torch.device(a.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32

    if a.image:
        from PIL import Image
        with Image.open(a.image) as im:
            width, height = im.size
        image = a.image
        input_facts = {"source": "file", "path": os.path.abspath(a.image), "width": width, "height": height}
    else:
        width, height = (int(v) for v in a.synthetic.lower().split("x"))
        image = synthetic_image(width, height)
        input_facts = {"source": "synthetic", "path": None, "width": width, "height": height}

    log(f"[peer] loading {a.checkpoint} on {device} ({str(dtype).replace('torch.', '')})")
    t0 = time.perf_counter()
    try:
        pipe = LotusReference(a.checkpoint, device, dtype, a.seed)
    except Exception as e:  # noqa: BLE001
        fail("CHECKPOINT", f"cannot load {a.checkpoint}: {type(e).__name__}: {e}")
    pipe.sync()
    load_ms = (time.perf_counter() - t0) * 1000

    _, cold = pipe(image, resolutions[0], a.task, a.batch)
    cold_facts = {"resolution": resolutions[0], "ms": cold["total"], "timings": cold}

    results = []
    for res in resolutions:
        for i in range(a.warmup):
            pipe(image, res, a.task, a.batch)
        latencies, timings = [], []
        wall0 = time.perf_counter()
        for i in range(a.iterations):
            r0 = time.perf_counter()
            _, t = pipe(image, res, a.task, a.batch)
            latencies.append((time.perf_counter() - r0) * 1000)
            timings.append(t)
        wall = (time.perf_counter() - wall0) * 1000
        s = min(res / width, res / height) if res > 0 else 1.0
        results.append({
            "resolution": res, "concurrency": 1, "batch": a.batch,
            "networkWidth": int(width * s), "networkHeight": int(height * s),
            "iterations": a.iterations, "wallMs": wall,
            "throughput": a.iterations * a.batch * 1000 / wall if wall > 0 else None,
            "latency": summarize(latencies), "stages": stage_summary(timings),
        })
        log(f"[peer] res {res}: p50 {results[-1]['latency']['p50']:.1f} ms")

    unet_params = sum(p.numel() for p in pipe.unet.parameters())
    vae_params = sum(p.numel() for p in pipe.vae.parameters())
    doc = {
        "schema": SCHEMA,
        "tool": "pytorch-reference",
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "device": device_facts(torch, device),
        "host": {"os": f"{platform.system()} {platform.release()}", "cpu": cpu_model(),
                 "cpus": os.cpu_count(), "loadAverage1m": load_average},
        "backend": f"pytorch-{device.type}",
        "precision": "fp16" if dtype == torch.float16 else "fp32",
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "diffusers": getattr(diffusers, "__version__", None),
                     "transformers": getattr(transformers, "__version__", None)},
        "model": {"path": os.path.abspath(a.checkpoint), "task": a.task,
                  "mode": "generation" if pipe.generation else "regression",
                  "weights": detect_random_weights(a.checkpoint, a.random_weights),
                  "unetParameters": unet_params, "vaeParameters": vae_params},
        "input": input_facts,
        "settings": {"resolutions": resolutions, "concurrency": [1], "batch": a.batch,
                     "iterations": a.iterations, "warmup": a.warmup, "seed": a.seed},
        "load": {"ms": load_ms, "engine": None},
        # getrusage maxrss (KiB on Linux): the most memory this process held at once, load included.
        "memory": {"peakRssBytes": peak_rss_bytes()},
        "cold": cold_facts,
        "results": results,
    }
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
