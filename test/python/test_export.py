"""Exporter on tiny G and D checkpoints: ONNX (onnxruntime) vs the PyTorch reference pipeline."""
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "test", "fixtures")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Export tiny G depth (fp32 + fp16) and tiny D normal checkpoints once for the module."""
    from lotus_export.export import main
    from lotus_export.tiny import make_tiny

    d = tmp_path_factory.mktemp("lotus")
    out = {}
    for ck, mode, prec in [("lotus-depth-g-t", "generation", "fp32"), ("lotus-normal-d-t", "regression", "fp32"),
                           ("lotus-depth-g-t", "generation", "fp16")]:
        path = str(d / ck)
        if not os.path.isdir(path):
            make_tiny(path, mode)
        onnx_path = str(d / f"{ck}.{prec}.onnx")
        assert main(["--checkpoint", path, "--output", onnx_path, "--precision", prec,
                     "--validate-size", "64x64"]) == 0
        out[(ck, prec)] = (path, onnx_path)
    return out


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def test_metadata_and_io(exported):
    import onnx

    for (ck, prec), (_, path) in exported.items():
        m = onnx.load(path)
        meta = {p.key: p.value for p in m.metadata_props}
        assert set(meta) == {"lotus.format_version", "lotus.task", "lotus.mode", "lotus.disparity",
                             "lotus.processing_resolution", "lotus.size_multiple", "lotus.latent_scale",
                             "lotus.timestep", "lotus.precision", "lotus.source", "lotus.exporter_version",
                             "lotus.random_weights"}
        assert meta["lotus.random_weights"] == "true"  # tiny.py marks its checkpoints
        assert meta["lotus.task"] == ("depth" if "depth" in ck else "normal")
        assert meta["lotus.mode"] == ("generation" if "-g-" in ck else "regression")
        assert meta["lotus.precision"] == prec and meta["lotus.processing_resolution"] == "768"
        assert meta["lotus.latent_scale"] == "0.18215" and meta["lotus.timestep"] == "999"
        names = [i.name for i in m.graph.input]
        assert names == (["image", "noise"] if "-g-" in ck else ["image"])
        assert [o.name for o in m.graph.output] == ["prediction"]
        elem = onnx.TensorProto.FLOAT16 if prec == "fp16" else onnx.TensorProto.FLOAT
        assert all(v.type.tensor_type.elem_type == elem for v in list(m.graph.input) + list(m.graph.output))
        dims = [d.dim_param for d in m.graph.input[0].type.tensor_type.shape.dim]
        assert dims[0] and dims[2] and dims[3], f"N, H, W must be dynamic, got {dims}"


@pytest.mark.parametrize("ck", ["lotus-depth-g-t", "lotus-normal-d-t"])
@pytest.mark.parametrize("size", [(64, 64), (61, 37), (45, 101)])  # multiples of 8 or not: pipeline.py pads nothing
def test_ort_matches_torch_graph(exported, ck, size):
    """The ONNX graph equals the PyTorch graph it was traced from on any H x W: the decoded
    prediction is 8 * floor(H / 8) x 8 * floor(W / 8), as the VAE gives it back."""
    import numpy as np
    import torch

    from lotus_export.checkpoint import load_checkpoint
    from lotus_export.graph import LotusGraph

    path, onnx_path = exported[(ck, "fp32")]
    graph = LotusGraph(load_checkpoint(path)).eval()
    rng = np.random.default_rng(1)
    image = rng.uniform(-1, 1, (1, 3) + size).astype(np.float32)
    feeds = {"image": image}
    if graph.generation:
        feeds["noise"] = rng.standard_normal((1, 4, size[0] // 8, size[1] // 8)).astype(np.float32)
    with torch.no_grad():
        expected = graph(*[torch.from_numpy(v) for v in feeds.values()]).numpy()
    raw = _session(onnx_path).run(["prediction"], feeds)[0]
    assert raw.shape == (1, 3, size[0] // 8 * 8, size[1] // 8 * 8) == expected.shape
    assert np.abs(raw - expected).max() < 5e-4


def test_batch_is_independent(exported):
    """N is dynamic and samples do not mix: a batch of 2 equals two runs of 1."""
    import numpy as np

    _, onnx_path = exported[("lotus-depth-g-t", "fp32")]
    s = _session(onnx_path)
    rng = np.random.default_rng(2)
    img = rng.uniform(-1, 1, (2, 3, 40, 56)).astype(np.float32)
    nz = rng.standard_normal((2, 4, 5, 7)).astype(np.float32)
    both = s.run(None, {"image": img, "noise": nz})[0]
    for i in range(2):
        one = s.run(None, {"image": img[i:i + 1], "noise": nz[i:i + 1]})[0]
        assert np.abs(both[i:i + 1] - one).max() < 1e-4


def test_fp16_graph_close_to_fp32(exported):
    import numpy as np

    s32 = _session(exported[("lotus-depth-g-t", "fp32")][1])
    s16 = _session(exported[("lotus-depth-g-t", "fp16")][1])
    rng = np.random.default_rng(4)
    img = rng.uniform(-1, 1, (1, 3, 72, 40)).astype(np.float32)
    nz = rng.standard_normal((1, 4, 9, 5)).astype(np.float32)
    a = s32.run(None, {"image": img, "noise": nz})[0]
    b = s16.run(None, {"image": img.astype(np.float16), "noise": nz.astype(np.float16)})[0]
    assert b.dtype == np.float16
    assert np.abs(a - b.astype(np.float32)).max() < 5e-2


def test_fp16_keeps_fragile_ops_in_fp32(exported):
    """Every GroupNorm/LayerNorm/Softmax reads FP32 (a Cast or an FP32 initializer)."""
    import onnx

    m = onnx.load(exported[("lotus-depth-g-t", "fp16")][1])
    producers = {o: n for n in m.graph.node for o in n.output}
    inits = {i.name: i for i in m.graph.initializer}
    checked = 0
    for n in m.graph.node:
        if n.op_type in ("GroupNormalization", "LayerNormalization", "Softmax"):
            for name in n.input:
                src = producers.get(name)
                ok = (src is not None and src.op_type == "Cast" and src.attribute[0].i == onnx.TensorProto.FLOAT) \
                    or (name in inits and inits[name].data_type == onnx.TensorProto.FLOAT)
                assert ok, f"{n.op_type} {n.name} input {name} is not FP32"
            checked += 1
    assert checked > 0


def test_group_norm_form_per_precision(exported):
    """FP32 (the CPU backend's) carries GroupNorm as LayerNormalization (cpu_norms.py); FP16 keeps
    GroupNormalization for TensorRT."""
    import onnx

    for (ck, prec), (_, path) in exported.items():
        ops = [n.op_type for n in onnx.load(path, load_external_data=False).graph.node]
        if prec == "fp32":
            assert "GroupNormalization" not in ops and ops.count("LayerNormalization") > 0
        else:
            assert "GroupNormalization" in ops


def test_name_inference_and_errors(tmp_path):
    from lotus_export.checkpoint import infer_from_name

    assert infer_from_name("jingheya/lotus-depth-g-v1-0") == ("depth", "generation", None)
    assert infer_from_name("jingheya/lotus-depth-d-v1-0") == ("depth", "regression", None)
    assert infer_from_name("jingheya/lotus-depth-g-v2-1-disparity") == ("depth", "generation", True)
    assert infer_from_name("jingheya/lotus-depth-d-v2-0-disparity") == ("depth", "regression", True)
    assert infer_from_name("jingheya/lotus-normal-g-v1-1") == ("normal", "generation", None)
    assert infer_from_name("jingheya/lotus-normal-d-v1-1") == ("normal", "regression", None)
    assert infer_from_name("/x/my-model") == (None, None, None)


def test_unknown_task_is_an_error(tmp_path):
    from lotus_export.checkpoint import load_checkpoint
    from lotus_export.tiny import make_tiny

    path = str(tmp_path / "anonymous")
    make_tiny(path, "regression")
    with pytest.raises(SystemExit, match="cannot infer the task"):
        load_checkpoint(path)
    with pytest.raises(SystemExit, match="contradicts"):
        load_checkpoint(path, task="depth", mode="generation")
    ck = load_checkpoint(path, task="normal")
    assert ck.mode == "regression" and tuple(ck.prompt_embeds.shape) == (1, 2, 32)


def test_committed_fixtures_match_official_intermediates():
    """The committed models reproduce the official pipeline's decoded prediction from its own
    network input (captured by scripts/lotus_export/official.py) on the cases that store both."""
    import numpy as np

    man_path = os.path.join(FIXTURES, "manifest.json")
    if not os.path.exists(man_path):
        pytest.skip("test/fixtures/manifest.json not generated")
    with open(man_path) as f:
        man = json.load(f)
    staged = [c for c in man["cases"] if "raw" in c["files"]]
    assert staged, "manifest lists no case with the official intermediates"
    for case in staged:
        d = os.path.join(FIXTURES, case["dir"])
        feeds = {"image": np.load(os.path.join(d, case["files"]["input"]))}
        assert feeds["image"].shape[2:] == (case["network"]["height"], case["network"]["width"])
        if "noise" in case["files"]:
            feeds["noise"] = np.load(os.path.join(d, case["files"]["noise"]))
        model = os.path.join(FIXTURES, man["models"][case["model"]]["file"])
        raw = _session(model).run(["prediction"], feeds)[0]
        assert raw.shape[2:] == (case["prediction"]["height"], case["prediction"]["width"]), case["id"]
        assert np.abs(raw - np.load(os.path.join(d, case["files"]["raw"]))).max() < 5e-4, case["id"]
