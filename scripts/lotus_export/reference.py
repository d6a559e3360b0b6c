"""The Lotus reference pipeline (pipeline.py + infer.py) in PyTorch, per docs/design.md steps 1-8.

Network = LotusGraph in PyTorch (never the ONNX), so fixtures made here test the exporter too."""
import numpy as np
import torch
import torch.nn.functional as F


def load_rgb(path):
    """infer.py: Image.open(path).convert('RGB'): RGBA alpha is dropped, not composited."""
    from PIL import Image

    return np.array(Image.open(path).convert("RGB"))


def resized_size(h, w, resolution):
    """Step 2 (utils/image_utils.resize_max_res): float64 scale, int() truncation."""
    if resolution <= 0:
        return h, w
    s = min(resolution / w, resolution / h)
    return int(h * s), int(w * s)


def preprocess(rgb8, resolution, size_multiple=8):
    """Steps 1-3: rgb8 HxWx3 uint8 -> padded network input [1,3,Hp,Wp] float32, (h', w')."""
    h, w = rgb8.shape[:2]
    x = torch.from_numpy(rgb8.astype(np.float32)).permute(2, 0, 1)[None] / 127.5 - 1.0
    rh, rw = resized_size(h, w, resolution)
    if (rh, rw) != (h, w):
        # torchvision resize(tensor, BILINEAR, antialias=True) is exactly this call.
        x = F.interpolate(x, size=(rh, rw), mode="bilinear", antialias=True, align_corners=False)
    ph, pw = -rh % size_multiple, -rw % size_multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x.contiguous(), (rh, rw)


def make_noise(padded_hw, seed):
    """Standard normal [1,4,Hp/8,Wp/8] for G models (float32, torch CPU generator)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 4, padded_hw[0] // 8, padded_hw[1] // 8, generator=g)


def postprocess(y, resized_hw, out_hw, task):
    """Steps 5-7: raw prediction [1,3,Hp,Wp] -> depth HxW or normal HxWx3 (float32 numpy)."""
    rh, rw = resized_hw
    p = torch.clamp(y[:, :, :rh, :rw] / 2 + 0.5, 0, 1)
    if (rh, rw) != tuple(out_hw):
        p = F.interpolate(p, size=tuple(out_hw), mode="nearest")
    p = p[0].permute(1, 2, 0).numpy()  # HWC, as the pipeline's output_type='np'
    if task == "depth":
        return p.mean(axis=-1)  # infer.py: pred.mean(axis=-1)
    n = 2 * p - 1
    return (n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), np.float32(1e-6))).astype(np.float32)


def colorize(depth, disparity):
    """Step 8, infer.py colorize_depth_map: Spectral, reversed for disparity models -> HxWx3 uint8."""
    import matplotlib

    cm = matplotlib.colormaps["Spectral"]
    v = (depth - depth.min()) / (depth.max() - depth.min())
    return (cm(1 - v if disparity else v)[..., :3] * 255).astype(np.uint8)


@torch.no_grad()
def run(graph, rgb8, resolution, task, seed=0):
    """Whole pipeline; returns a dict of every intermediate the fixtures store."""
    x, rhw = preprocess(rgb8, resolution)
    noise = make_noise(x.shape[-2:], seed) if graph.generation else None
    y = graph(x, noise) if noise is not None else graph(x)
    out = postprocess(y, rhw, rgb8.shape[:2], task)
    return {"input": x, "noise": noise, "raw": y, "output": out, "resized_hw": rhw,
            "padded_hw": tuple(x.shape[-2:])}
