"""Measures how onnxruntime's CPU provider computes Lotus' normalisations, against float64 numpy.

    python -m lotus_export.norm_precision synthetic      # group norm forms on a mean/std grid + speed
    python -m lotus_export.norm_precision layernorm      # LayerNormalization over channels (UNet blocks)
    python -m lotus_export.norm_precision captured --checkpoint DIR [--size 576x768]
        # every GroupNorm / LayerNorm input of the real network (PyTorch, hooks) through each form

(run from scripts/, diffusers on PYTHONPATH for `captured`). Forms of GroupNorm compared:
  groupnorm     GroupNormalization-21 as exported (onnxruntime runs its ONNX function body)
  instancenorm  Reshape [N, G, -1] + InstanceNormalization + affine (the TorchScript exporter's form)
  twopass       Reshape + ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt, Div + affine
  layernorm     cpu_norms.rewrite_group_norms applied to the groupnorm graph (what the FP32 export ships)
and PyTorch's GroupNorm (float32) as the peer. Errors are max abs vs float64 of the same float32
input. Results for docs/export.md ("GroupNorm on the CPU").
"""
import argparse
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .cpu_norms import rewrite_group_norms

F32 = TensorProto.FLOAT
FORMS = ("groupnorm", "instancenorm", "twopass", "layernorm")
# (C, G, H, W) of the normalisations in Lotus-G at 768x768 (SD2 VAE and UNet, latent 96x96).
SPEED_SHAPES = ((128, 32, 768, 768), (256, 32, 384, 384), (512, 32, 192, 192), (320, 32, 96, 96), (1280, 32, 24, 24))


def group_norm_model(form, scale, bias, groups, eps=1e-5, rank=4):
    c = scale.shape[0]
    dims = ["N", c] + [f"d{i}" for i in range(rank - 2)]
    x = helper.make_tensor_value_info("x", F32, dims)
    y = helper.make_tensor_value_info("y", F32, dims)
    per_channel = (c,) + (1,) * (rank - 2)
    inits = [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(bias, "bias")]
    nodes = []
    if form in ("groupnorm", "layernorm"):
        nodes.append(helper.make_node("GroupNormalization", ["x", "scale", "bias"], ["y"], num_groups=groups,
                                      epsilon=eps, stash_type=1))
    else:
        inits += [numpy_helper.from_array(np.array([0, groups, -1], np.int64), "shape3"),
                  numpy_helper.from_array(scale.reshape(per_channel), "scale3"),
                  numpy_helper.from_array(bias.reshape(per_channel), "bias3")]
        nodes += [helper.make_node("Shape", ["x"], ["xs"]), helper.make_node("Reshape", ["x", "shape3"], ["x3"])]
        if form == "instancenorm":
            inits += [numpy_helper.from_array(np.ones(groups, np.float32), "ones"),
                      numpy_helper.from_array(np.zeros(groups, np.float32), "zeros")]
            nodes.append(helper.make_node("InstanceNormalization", ["x3", "ones", "zeros"], ["n3"], epsilon=eps))
        elif form == "twopass":
            inits += [numpy_helper.from_array(np.array([2], np.int64), "axes"),
                      numpy_helper.from_array(np.array(eps, np.float32), "eps")]
            nodes += [helper.make_node("ReduceMean", ["x3", "axes"], ["m"]), helper.make_node("Sub", ["x3", "m"], ["d"]),
                      helper.make_node("Mul", ["d", "d"], ["d2"]), helper.make_node("ReduceMean", ["d2", "axes"], ["v"]),
                      helper.make_node("Add", ["v", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
                      helper.make_node("Div", ["d", "sd"], ["n3"])]
        else:
            raise ValueError(form)
        nodes += [helper.make_node("Reshape", ["n3", "xs"], ["n"]), helper.make_node("Mul", ["n", "scale3"], ["ns"]),
                  helper.make_node("Add", ["ns", "bias3"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, form, [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    if form == "layernorm":
        assert rewrite_group_norms(model) == 1
    onnx.checker.check_model(model)
    return model


def layer_norm_model(scale, bias, eps=1e-5):
    c = scale.shape[0]
    x = helper.make_tensor_value_info("x", F32, ["N", "L", c])
    y = helper.make_tensor_value_info("y", F32, ["N", "L", c])
    node = helper.make_node("LayerNormalization", ["x", "scale", "bias"], ["y"], axis=-1, epsilon=eps, stash_type=1)
    graph = helper.make_graph([node], "layernorm", [x], [y],
                              [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(bias, "bias")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def session(model, threads=0, arena=True):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # as the CPU backend
    so.log_severity_level = 3
    so.enable_cpu_mem_arena = arena
    if threads:
        so.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def group_norm_f64(x, groups, scale, bias, eps=1e-5):
    n, c = x.shape[:2]
    x3 = x.astype(np.float64).reshape(n, groups, -1)
    m = x3.mean(2, keepdims=True)
    v = ((x3 - m) ** 2).mean(2, keepdims=True)
    y = ((x3 - m) / np.sqrt(v + eps)).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return y * scale.astype(np.float64).reshape(shape) + bias.astype(np.float64).reshape(shape)


def layer_norm_f64(x, scale, bias, eps=1e-5):
    x = x.astype(np.float64)
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * scale.astype(np.float64) + bias.astype(np.float64)


def torch_group_norm(x, groups, scale, bias, eps=1e-5):
    import torch

    with torch.no_grad():
        return torch.nn.functional.group_norm(torch.from_numpy(x), groups, torch.from_numpy(scale),
                                              torch.from_numpy(bias), eps).numpy()


def affine(c, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, c).astype(np.float32), rng.uniform(-0.5, 0.5, c).astype(np.float32)


def fmt(v):
    return "nan" if not np.isfinite(v) else f"{v:.2g}"


def cmd_synthetic(a):
    # The case first, then a grid of group mean / std on one UNet-sized tensor.
    cases = [((1, 16, 576, 768), 8, 10.0, 0.5)]
    cases += [((1, 320, 96, 96), 32, m, s) for m, s in
              ((0, 1), (1, 1), (10, 1), (10, 0.5), (100, 1), (100, 10), (1000, 10), (-50, 5))]
    print("## max abs error vs float64 (float32 input x = N(mean, std); scale U(0.5,1.5), bias U(-0.5,0.5))")
    print("| shape | groups | mean | std | " + " | ".join(FORMS) + " | torch |")
    print("| --- " * (5 + len(FORMS)) + "|")
    for shape, groups, mean, std in cases:
        scale, bias = affine(shape[1])
        x = (np.random.default_rng(0).standard_normal(shape, dtype=np.float32) * std + mean).astype(np.float32)
        ref = group_norm_f64(x, groups, scale, bias)
        errs = [float(np.abs(session(group_norm_model(f, scale, bias, groups)).run(None, {"x": x})[0] - ref).max())
                for f in FORMS]
        errs.append(float(np.abs(torch_group_norm(x, groups, scale, bias) - ref).max()))
        print(f"| {list(shape)} | {groups} | {mean:g} | {std:g} | " + " | ".join(fmt(e) for e in errs) + " |")
    print(f"\n## speed: median of {a.repeat} runs, ms ({a.threads or 'default'} intra-op threads)")
    print("| shape (C, G, H, W) | " + " | ".join(FORMS) + " | torch |")
    print("| --- " * (2 + len(FORMS)) + "|")
    for c, groups, h, w in SPEED_SHAPES:
        scale, bias = affine(c)
        x = (np.random.default_rng(0).standard_normal((1, c, h, w), dtype=np.float32) * 2 + 3).astype(np.float32)
        row = []
        for f in FORMS:
            s = session(group_norm_model(f, scale, bias, groups), a.threads)
            s.run(None, {"x": x})
            row.append(_median_ms(lambda: s.run(None, {"x": x}), a.repeat))
            del s
        row.append(_median_ms(lambda: torch_group_norm(x, groups, scale, bias), a.repeat))
        print(f"| {c}, {groups}, {h}, {w} | " + " | ".join(f"{v:.1f}" for v in row) + " |")


def _median_ms(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def cmd_layernorm(a):
    import torch

    print("## LayerNormalization over channels ([1, tokens, C], per-token mean / std), max abs error vs float64")
    print("| tokens x C | mean | std | outlier channels | onnxruntime | torch |")
    print("| --- | --- | --- | --- | --- | --- |")
    for tokens, c in ((9216, 320), (576, 1280)):
        scale, bias = affine(c)
        sess = session(layer_norm_model(scale, bias))
        for mean, std, outliers in ((0, 1, 0), (10, 1, 0), (100, 1, 0), (0, 1, 100.0), (10, 0.5, 1000.0)):
            rng = np.random.default_rng(0)
            x = rng.standard_normal((1, tokens, c), dtype=np.float32) * std + mean
            if outliers:  # a few "massive activation" channels, as seen in diffusion UNets
                x[..., :4] += outliers * rng.choice([-1, 1], 4)
            x = x.astype(np.float32)
            ref = layer_norm_f64(x, scale, bias)
            e_ort = float(np.abs(sess.run(None, {"x": x})[0] - ref).max())
            with torch.no_grad():
                yt = torch.nn.functional.layer_norm(torch.from_numpy(x), (c,), torch.from_numpy(scale),
                                                    torch.from_numpy(bias), 1e-5).numpy()
            print(f"| {tokens} x {c} | {mean:g} | {std:g} | {outliers:g} | {fmt(e_ort)} | {fmt(float(np.abs(yt - ref).max()))} |")


def cmd_captured(a):
    """Hooks every GroupNorm / LayerNorm of LotusGraph (PyTorch, FP32) and runs its real input through
    each onnxruntime form; the network's own statistics, at a real resolution."""
    import torch

    from .checkpoint import load_checkpoint
    from .graph import LotusGraph

    h, w = (int(v) for v in a.size.lower().split("x"))
    ck = load_checkpoint(a.checkpoint)
    graph = LotusGraph(ck).eval()
    rows = []

    def run_once(model, x):
        # One short-lived session per call, arena off: hundreds of sessions must not each keep
        # the memory of a full-resolution VAE activation.
        return session(model, arena=False).run(None, {"x": x})[0]

    def group_hook(module, args, _out):
        x = args[0].detach().numpy()
        scale = module.weight.detach().numpy().astype(np.float32)
        bias = module.bias.detach().numpy().astype(np.float32)
        g = module.num_groups
        x3 = x.astype(np.float64).reshape(x.shape[0], g, -1)
        ratio = float((np.abs(x3.mean(2)) / x3.std(2)).max())
        ref = group_norm_f64(x, g, scale, bias, module.eps)
        errs = {"torch": float(np.abs(_out.detach().numpy() - ref).max())}
        for f in FORMS:
            errs[f] = float(np.abs(run_once(group_norm_model(f, scale, bias, g, module.eps, x.ndim), x) - ref).max())
        rows.append(("GroupNorm", module.__lotus_name__, list(x.shape), ratio, errs))

    def layer_hook(module, args, _out):
        x = args[0].detach().numpy()
        scale = module.weight.detach().numpy().astype(np.float32)
        bias = module.bias.detach().numpy().astype(np.float32)
        ref = layer_norm_f64(x, scale, bias, module.eps)
        x64 = x.astype(np.float64)
        ratio = float((np.abs(x64.mean(-1)) / x64.std(-1)).max())
        errs = {"torch": float(np.abs(_out.detach().numpy() - ref).max()),
                "onnxruntime": float(np.abs(run_once(layer_norm_model(scale, bias, module.eps), x) - ref).max())}
        rows.append(("LayerNorm", module.__lotus_name__, list(x.shape), ratio, errs))

    for name, module in graph.named_modules():
        if isinstance(module, torch.nn.GroupNorm):
            module.__lotus_name__ = name
            module.register_forward_hook(group_hook)
        elif isinstance(module, torch.nn.LayerNorm) and module.elementwise_affine:
            module.__lotus_name__ = name
            module.register_forward_hook(layer_hook)
    rng = np.random.default_rng(0)
    image = torch.from_numpy(_photo_like(h, w, rng))
    noise = torch.from_numpy(rng.standard_normal((1, 4, h // 8, w // 8), dtype=np.float32))
    t = time.perf_counter()
    with torch.no_grad():
        graph(image, noise if graph.generation else None)
    print(f"## captured: {a.checkpoint} at {h}x{w}, {len(rows)} normalisations ({time.perf_counter() - t:.0f} s)")
    for kind, forms in (("GroupNorm", FORMS + ("torch",)), ("LayerNorm", ("onnxruntime", "torch"))):
        sel = [r for r in rows if r[0] == kind]
        if not sel:
            continue
        print(f"\n### {kind}: {len(sel)} calls, max |group mean| / std = {max(r[3] for r in sel):.3g}")
        print("| form | max abs error (all calls) | worst call |")
        print("| --- | --- | --- |")
        for f in forms:
            worst = max(sel, key=lambda r: r[4][f])
            print(f"| {f} | {fmt(worst[4][f])} | {worst[1]} {worst[2]} |")
    if a.verbose:
        for r in rows:
            print(r[0], r[1], r[2], f"mean/std {r[3]:.3g}", {k: fmt(v) for k, v in r[4].items()})


def _photo_like(h, w, rng):
    """A smooth image with edges and texture in [-1, 1], [1, 3, h, w] (no photo is shipped)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin(x / 37.0) * np.cos(y / 23.0)])
    img[:, int(h * 0.3):int(h * 0.7), int(w * 0.2):int(w * 0.5)] *= 0.3
    img += rng.standard_normal(img.shape).astype(np.float32) * 0.03
    return (np.clip(img, 0, 1) * 2 - 1)[None].astype(np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synthetic")
    s.add_argument("--repeat", type=int, default=5)
    s.add_argument("--threads", type=int, default=0)
    sub.add_parser("layernorm")
    c = sub.add_parser("captured")
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--size", default="576x768", help="HxW network input (multiples of 8)")
    c.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    {"synthetic": cmd_synthetic, "layernorm": cmd_layernorm, "captured": cmd_captured}[a.cmd](a)


if __name__ == "__main__":
    main()
