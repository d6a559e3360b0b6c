"""Run onnxruntime on the exported file and PyTorch on the same random inputs; compare."""
import numpy as np
import torch


def parse_size(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--validate-size {text!r}: expected HxW, e.g. 64x96")
    if h <= 0 or w <= 0 or h % 8 or w % 8:
        raise SystemExit(f"--validate-size {text!r}: H and W must be positive multiples of 8")
    return h, w


def validation_sizes(graph, size):
    """The requested size plus one whose latent is not divisible by the UNet's up factor (and is
    different from the traced size), so both upsample paths are checked."""
    h, w = size
    f = graph.up_factor
    lat_h = h // 8 + (1 if (h // 8) % f == 0 else 0)
    return [(h, w), (lat_h * 8, w + 8)]


def validate(path, graph, precision, sizes, tolerance, batch=(1, 2), seed=0):
    import onnxruntime as ort

    so = ort.SessionOptions()
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    dt = np.float16 if precision == "fp16" else np.float32
    rng = np.random.default_rng(seed)
    worst = 0.0
    for n in batch:
        for h, w in sizes:
            image = rng.uniform(-1, 1, (n, 3, h, w)).astype(np.float32)
            feeds = {"image": image}
            args = [torch.from_numpy(image)]
            if graph.generation:
                noise = rng.standard_normal((n, 4, h // 8, w // 8)).astype(np.float32)
                feeds["noise"] = noise
                args.append(torch.from_numpy(noise))
            with torch.no_grad():
                ref = graph(*args).numpy()
            got = sess.run(["prediction"], {k: v.astype(dt) for k, v in feeds.items()})[0].astype(np.float32)
            if got.shape != ref.shape:
                raise SystemExit(f"validation: ONNX output {got.shape} != PyTorch {ref.shape}")
            err = np.abs(got - ref)
            print(f"[validate] {precision} N={n} {h}x{w}: max abs err {err.max():.3g}, mean {err.mean():.3g}"
                  f" (output range [{ref.min():.3f}, {ref.max():.3f}])")
            worst = max(worst, float(err.max()))
    ok = worst <= tolerance
    print(f"[validate] worst max abs err {worst:.3g} {'<=' if ok else '>'} tolerance {tolerance:g}: "
          f"{'OK' if ok else 'FAILED'}")
    return ok, worst
