"""Runs the official Lotus inference (EnVision-Research/Lotus infer.py + pipeline.py) unchanged, for
reference outputs. The Lotus checkout stays outside this repository: its path comes from
$LOTUS_REPO (or `lotus_dir`).

infer.py's main() runs as it is, on a folder of images, and writes what it always writes
(<out>/<task>/<name>.npy and <out>/<task>_vis/<name>.png). Four things are changed around it,
each for a stated reason, none inside the pipeline's arithmetic:

1. torch.autocast is a no-op. infer.py wraps every call in `torch.autocast(device.type)`, which on
   the CPU means bfloat16 (and float16 on CUDA, even without --half_precision): the reference we
   want is the FP32 pipeline.
2. The VAE posterior is its mean, not a sample (DiagonalGaussianDistribution.sample -> .mean):
   lotus-trt is deterministic by design (docs/design.md says so, with the measured effect).
3. Captures, not changes: the resized network input (what pipeline.py hands to vae.encode), the
   decoded prediction (what vae.decode returns) and, for G models, the noise pipeline.py draws with
   randn_tensor are recorded per image, so tests can feed the same noise and check stage by stage.
4. torchvision's C ops may be unloadable (a CUDA wheel on a CPU machine): only its fake-op
   registrations for detection ops are skipped; resize() is torchvision's own Python code.
"""
import contextlib
import os
import sys


def _lotus_dir(lotus_dir=None):
    path = lotus_dir or os.environ.get("LOTUS_REPO")
    if not path or not os.path.isfile(os.path.join(path, "infer.py")):
        raise SystemExit("set LOTUS_REPO to a checkout of https://github.com/EnVision-Research/Lotus "
                         f"(infer.py not found in {path!r})")
    return os.path.abspath(path)


def import_torchvision():
    """Import torchvision even when its compiled ops cannot load (see the module docstring, 4).
    Call it before anything imports transformers or diffusers, which import torchvision themselves."""
    import torch
    import torch.library

    original = torch.library.register_fake

    def skip_torchvision_ops(name, *args, **kwargs):
        if isinstance(name, str) and name.startswith("torchvision::"):
            return lambda fn: fn
        return original(name, *args, **kwargs)

    torch.library.register_fake = skip_torchvision_ops
    try:
        import torchvision  # noqa: F401
    finally:
        torch.library.register_fake = original


class _Captures:
    """Per image (infer.py's file name without extension): input, raw, noise as numpy float32."""

    def __init__(self):
        self.current = None
        self.by_image = {}

    def put(self, key, tensor):
        self.by_image.setdefault(self.current, {})[key] = tensor.detach().float().cpu().numpy().copy()


@contextlib.contextmanager
def _patched(infer, pipeline_module, captures):
    import torch
    from diffusers.models.autoencoders import vae as vae_module

    saved = []

    def patch(owner, name, value):
        saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    patch(torch, "autocast", lambda *a, **k: contextlib.nullcontext())
    patch(vae_module.DiagonalGaussianDistribution, "sample", lambda self, generator=None: self.mean)

    open_image = infer.Image.open

    def open_and_note(path, *a, **k):
        captures.current = os.path.splitext(os.path.basename(str(path)))[0]
        return open_image(path, *a, **k)

    patch(infer.Image, "open", open_and_note)

    draw = pipeline_module.randn_tensor

    def draw_and_note(*a, **k):
        noise = draw(*a, **k)
        captures.put("noise", noise)
        return noise

    patch(pipeline_module, "randn_tensor", draw_and_note)
    try:
        yield
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


def _hook_vae(pipe, captures):
    encode, decode = pipe.vae.encode, pipe.vae.decode

    def encode_and_note(x, *a, **k):
        captures.put("input", x)
        return encode(x, *a, **k)

    def decode_and_note(z, *a, **k):
        out = decode(z, *a, **k)
        captures.put("raw", out[0] if isinstance(out, tuple) else out.sample)
        return out

    pipe.vae.encode, pipe.vae.decode = encode_and_note, decode_and_note


def run_infer(checkpoint, task, mode, disparity, processing_res, input_dir, output_dir, seed=0,
              lotus_dir=None):
    """infer.py main() on every .png/.jpg under input_dir; returns {image name: captures}."""
    lotus = _lotus_dir(lotus_dir)
    if lotus not in sys.path:
        sys.path.insert(0, lotus)
    import_torchvision()
    import infer
    import pipeline as pipeline_module

    captures = _Captures()
    # infer.py builds the pipeline with from_pretrained: hook the instance it gets.
    classes = (pipeline_module.LotusGPipeline, pipeline_module.LotusDPipeline)
    loaders = {cls: cls.from_pretrained for cls in classes}
    own = {cls: cls.__dict__.get("from_pretrained") for cls in classes}

    def loader_for(cls):
        def load(*a, **k):
            pipe = loaders[cls](*a, **k)
            _hook_vae(pipe, captures)
            return pipe
        return load

    argv = ["infer.py", "--pretrained_model_name_or_path", checkpoint, "--mode", mode,
            "--task_name", task, "--seed", str(seed), "--processing_res", str(processing_res),
            "--input_dir", input_dir, "--output_dir", output_dir]
    if disparity:
        argv.append("--disparity")
    saved_argv = sys.argv
    try:
        for cls in classes:
            cls.from_pretrained = loader_for(cls)
        sys.argv = argv
        with _patched(infer, pipeline_module, captures):
            infer.main()
    finally:
        sys.argv = saved_argv
        for cls in classes:
            if own[cls] is None:
                del cls.from_pretrained
            else:
                cls.from_pretrained = own[cls]
    return captures.by_image
