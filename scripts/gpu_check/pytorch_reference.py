"""The PyTorch reference on the GPU: Lotus as its users run it (infer.py --half_precision: FP16
weights under torch.autocast), timed per stage, at several processing resolutions and batch sizes.
This is the figure the TensorRT path has to beat. Run by scripts/gpu-check under the Python that has
torch (it imports nothing of gpu-check's own).

    python pytorch_reference.py --probe
    python pytorch_reference.py --checkpoint DIR [--lotus-repo DIR] --resolutions 512,768 --batches 1,4 \
        --iterations 10 --warmup 2 --json out.json [--device cuda|cpu] [--dtype fp16|fp32]

With --lotus-repo (an EnVision-Research/Lotus checkout) the official pipeline.py classes run
(LotusGPipeline / LotusDPipeline.from_pretrained, called as infer.py calls them; a batch of N passes
N empty prompts and N task embeddings, which is what the pipeline needs to batch). Without it,
scripts/bench_pytorch.py's step-by-step re-implementation runs.

Input: the synthetic 1920x1080 image of lotus bench (bench_pytorch.synthetic_image), already decoded:
float32 NCHW in [-1, 1] on the host, as infer.py builds it from PIL; each call copies it to the
device (stage `copy`). Stage times come from torch.cuda.synchronize() + perf_counter around each
hooked function, in a separate pass from the latency figures (whose calls run without hooks).
--device cpu exists to dry-run this script on a machine without a GPU.
"""
import argparse
import contextlib
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)


def log(message):
    print(f"[pytorch] {message}", file=sys.stderr, flush=True)


def probe(device_kind):
    """What this Python can run: {"ok": true, versions, device} or {"ok": false, "reason"}."""
    out = {"python": sys.executable, "pythonVersion": platform.python_version()}
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means no reference
        return {**out, "ok": False, "reason": f"no torch in {sys.executable}: {type(e).__name__}: {e}"}
    out["torch"] = torch.__version__
    out["torchCuda"] = torch.version.cuda
    if device_kind == "cuda" and not torch.cuda.is_available():
        return {**out, "ok": False, "reason": f"torch {torch.__version__} sees no CUDA device"}
    for name in ("transformers", "diffusers"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "?")
            out[name + "Path"] = os.path.dirname(module.__file__)
        except Exception as e:  # noqa: BLE001
            return {**out, "ok": False,
                    "reason": f"no {name} importable in {sys.executable}: {type(e).__name__}: {e} "
                              "(on the GPU machine: carry it, see docs/gpu-check.md)"}
    if device_kind == "cuda":
        p = torch.cuda.get_device_properties(0)
        out["device"] = {"name": p.name, "computeCapability": f"{p.major}.{p.minor}", "totalMemory": p.total_memory}
    return {**out, "ok": True}


class StageClock:
    """Adds each hooked call's synchronised wall time to its stage, while enabled."""

    def __init__(self, torch, device):
        self.torch = torch
        self.cuda = device.type == "cuda"
        self.enabled = False
        self.stages = {}

    def now(self):
        if self.cuda:
            self.torch.cuda.synchronize()
        return time.perf_counter()

    def wrap(self, owner, name, stage):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            if not self.enabled:
                return original(*args, **kwargs)
            start = self.now()
            result = original(*args, **kwargs)
            self.stages[stage] = self.stages.get(stage, 0.0) + (self.now() - start) * 1000
            return result

        setattr(owner, name, timed)

    @contextlib.contextmanager
    def stage(self, stage):
        start = self.now() if self.enabled else 0
        yield
        if self.enabled:
            self.stages[stage] = self.stages.get(stage, 0.0) + (self.now() - start) * 1000


def task_embedding(torch, device, batch):
    # infer.py:189-190, repeated per image for a batch
    emb = torch.tensor([1, 0]).float().unsqueeze(0).repeat(1, 1).to(device)
    return torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1).repeat(batch, 1)


class Official:
    """pipeline.py's LotusGPipeline / LotusDPipeline, called as infer.py calls them."""

    name = "official pipeline.py (EnVision-Research/Lotus)"

    def __init__(self, torch, checkpoint, lotus_repo, device, dtype, clock, seed):
        sys.path.insert(0, lotus_repo)
        import pipeline as pipeline_module
        import utils.image_utils  # noqa: F401 - pipeline.py imports it; fail here with a clear path

        with open(os.path.join(checkpoint, "unet", "config.json")) as f:
            generation = json.load(f)["in_channels"] == 8
        cls = pipeline_module.LotusGPipeline if generation else pipeline_module.LotusDPipeline
        self.pipe = cls.from_pretrained(checkpoint, torch_dtype=dtype).to(device)
        self.pipe.set_progress_bar_config(disable=True)
        self.torch, self.device, self.seed, self.clock = torch, device, seed, clock
        self.generation = generation
        self.unet, self.vae = self.pipe.unet, self.pipe.vae
        clock.wrap(pipeline_module, "resize_max_res", "preprocess")
        clock.wrap(self.pipe, "encode_prompt", "prompt")
        clock.wrap(self.pipe.vae, "encode", "vaeEncode")
        clock.wrap(self.pipe.unet, "forward", "unet")
        clock.wrap(self.pipe.vae, "decode", "vaeDecode")
        clock.wrap(self.pipe.image_processor, "postprocess", "postprocess")
        clock.wrap(pipeline_module, "resize_back", "postprocess")
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def __call__(self, image_hwc, host_rgb, resolution, task):
        torch = self.torch
        batch = host_rgb.shape[0]
        with self.clock.stage("copy"):
            rgb = host_rgb.to(self.device)
        pred = self.pipe(rgb_in=rgb, prompt=[""] * batch, num_inference_steps=1, generator=self.generator,
                         output_type="np", timesteps=[999], task_emb=task_embedding(torch, self.device, batch),
                         processing_res=resolution, match_input_res=True, resample_method="bilinear").images
        with self.clock.stage("postprocess"):
            out = [p.mean(axis=-1) if task == "depth" else p for p in pred]  # infer.py:210-213
        return out


class Reimplementation:
    """scripts/bench_pytorch.py's LotusReference (pipeline.py step by step), when no Lotus checkout."""

    name = "scripts/bench_pytorch.py re-implementation of pipeline.py"

    def __init__(self, torch, checkpoint, device, dtype, clock, seed):
        sys.path.insert(0, SCRIPTS)
        from bench_pytorch import LotusReference

        self.ref = LotusReference(checkpoint, device, dtype, seed)
        self.generation = self.ref.generation
        self.unet, self.vae = self.ref.unet, self.ref.vae
        self.clock = clock
        clock.wrap(self.ref.vae, "encode", "vaeEncode")
        clock.wrap(self.ref.unet, "forward", "unet")
        clock.wrap(self.ref.vae, "decode", "vaeDecode")

    def __call__(self, image_hwc, host_rgb, resolution, task):
        # LotusReference takes the HWC pixels and builds the [-1, 1] batch tensor itself.
        out, t = self.ref(image_hwc, resolution, task, batch=host_rgb.shape[0])
        if self.clock.enabled:
            for stage in ("copy", "preprocess", "postprocess"):
                self.clock.stages[stage] = self.clock.stages.get(stage, 0.0) + t[stage]
        return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probe", action="store_true", help="print what this Python can run, as JSON, and exit")
    ap.add_argument("--checkpoint", help="diffusers checkpoint folder (scripts/lotus_export/full.py)")
    ap.add_argument("--lotus-repo", default=os.environ.get("LOTUS_REPO"),
                    help="EnVision-Research/Lotus checkout: run its pipeline.py (default $LOTUS_REPO)")
    ap.add_argument("--task", choices=["depth", "normal"], default="depth")
    ap.add_argument("--resolutions", default="512,768")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--dtype", choices=["fp16", "fp32"], default=None, help="default: fp16 on cuda, fp32 on cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the document here too")
    a = ap.parse_args(argv)

    facts = probe(a.device)
    if a.probe:
        print(json.dumps(facts))
        return 0
    if not facts["ok"]:
        print(json.dumps({"ok": False, "reason": facts["reason"]}))
        return 3
    if not a.checkpoint:
        ap.error("--checkpoint is required")

    import numpy as np
    import torch

    sys.path.insert(0, SCRIPTS)
    from bench_pytorch import percentile, summarize, synthetic_image  # lib/bench/stats.ts's definitions

    device = torch.device(a.device)
    dtype = {"fp16": torch.float16, "fp32": torch.float32}[a.dtype or ("fp16" if a.device == "cuda" else "fp32")]
    # infer.py --half_precision: FP16 weights, and every call under torch.autocast(device.type)
    autocast = (lambda: torch.autocast(device.type)) if device.type == "cuda" else contextlib.nullcontext
    clock = StageClock(torch, device)
    t0 = time.perf_counter()
    if a.lotus_repo:
        model = Official(torch, a.checkpoint, os.path.abspath(a.lotus_repo), device, dtype, clock, a.seed)
    else:
        model = Reimplementation(torch, a.checkpoint, device, dtype, clock, a.seed)
    if device.type == "cuda":
        torch.cuda.synchronize()
    load_ms = (time.perf_counter() - t0) * 1000
    log(f"{model.name}: loaded {a.checkpoint} in {load_ms:.0f} ms ({str(dtype).replace('torch.', '')} on {device})")

    width, height = 1920, 1080
    image = synthetic_image(width, height)
    results = []
    for resolution in [int(r) for r in a.resolutions.split(",") if r]:
        for batch in [int(b) for b in a.batches.split(",") if b]:
            # infer.py: float32 NCHW in [-1, 1] from the decoded pixels, on the host
            host_rgb = (torch.tensor(image.astype(np.float32)).permute(2, 0, 1).unsqueeze(0) / 127.5 - 1.0)
            host_rgb = host_rgb.repeat(batch, 1, 1, 1).contiguous()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()

            def call():
                start = time.perf_counter()
                with torch.no_grad(), autocast():
                    out = model(image, host_rgb, resolution, a.task)
                ms = (time.perf_counter() - start) * 1000
                assert len(out) == batch and out[0].shape[:2] == (height, width), [o.shape for o in out]
                return ms

            cold = call()
            for _ in range(a.warmup):
                call()
            latencies = [call() for _ in range(a.iterations)]
            clock.enabled = True
            per_call = []
            for _ in range(max(1, a.iterations // 2)):
                clock.stages = {}
                total = call()
                stages = dict(clock.stages)
                stages["other"] = total - sum(stages.values())
                stages["total"] = total
                per_call.append(stages)
            clock.enabled = False
            names = sorted({k for s in per_call for k in s})
            stage_summary = {k: {"mean": sum(s.get(k, 0.0) for s in per_call) / len(per_call),
                                 "p50": percentile([s.get(k, 0.0) for s in per_call], 50)} for k in names}
            s = min(resolution / width, resolution / height) if resolution > 0 else 1.0
            latency = summarize(latencies)
            result = {"resolution": resolution, "batch": batch, "networkWidth": int(width * s),
                      "networkHeight": int(height * s), "iterations": a.iterations, "warmup": a.warmup,
                      "coldMs": cold, "latency": latency, "imagesPerSecond": batch * 1000 / latency["p50"],
                      "stages": stage_summary, "stageRuns": len(per_call)}
            if device.type == "cuda":
                result["peakAllocatedBytes"] = torch.cuda.max_memory_allocated()
            results.append(result)
            log(f"R={resolution} batch {batch}: p50 {latency['p50']:.1f} ms ({result['imagesPerSecond']:.2f} img/s), "
                + ", ".join(f"{k} {v['p50']:.1f}" for k, v in stage_summary.items()))

    doc = {"ok": True, "implementation": model.name, "task": a.task,
           "mode": "generation" if model.generation else "regression",
           "precision": str(dtype).replace("torch.", ""), "autocast": device.type == "cuda",
           "checkpoint": os.path.abspath(a.checkpoint),
           "unetParameters": sum(p.numel() for p in model.unet.parameters()),
           "vaeParameters": sum(p.numel() for p in model.vae.parameters()),
           "input": {"source": "synthetic", "width": width, "height": height},
           "loadMs": load_ms, "versions": {k: facts.get(k) for k in ("pythonVersion", "torch", "torchCuda",
                                                                      "transformers", "diffusers")},
           "device": facts.get("device", {"name": "cpu"}), "results": results}
    text = json.dumps(doc, indent=2)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
