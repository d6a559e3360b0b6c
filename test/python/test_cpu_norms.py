"""cpu_norms: GroupNormalization -> LayerNormalization rewrite of the FP32 export (onnx + onnxruntime only)."""
import numpy as np
import pytest


def _models(c=16, groups=8, eps=1e-5, rank=4):
    from lotus_export.cpu_norms import rewrite_group_norms
    from lotus_export.norm_precision import affine, group_norm_model

    scale, bias = affine(c)
    original = group_norm_model("groupnorm", scale, bias, groups, eps, rank)
    rewritten = type(original)()
    rewritten.CopyFrom(original)
    assert rewrite_group_norms(rewritten) == 1
    return original, rewritten, scale, bias


def _run(model, x):
    from lotus_export.norm_precision import session

    return session(model).run(None, {"x": x})[0]


def test_rewrite_is_group_norm_and_fixes_the_cancellation():
    from lotus_export.norm_precision import group_norm_f64

    original, rewritten, scale, bias = _models()
    assert [n.op_type for n in rewritten.graph.node].count("GroupNormalization") == 0
    assert [n.op_type for n in rewritten.graph.node].count("LayerNormalization") == 1
    rng = np.random.default_rng(0)
    centred = rng.standard_normal((2, 16, 40, 24), dtype=np.float32)
    far = (centred * 0.5 + 10).astype(np.float32)  # the statistics: mean 10, std 0.5
    for x in (centred, far):
        ref = group_norm_f64(x, 8, scale, bias)
        assert np.abs(_run(rewritten, x) - ref).max() < 5e-6
    # onnxruntime's GroupNormalization (its ONNX function body) is the one that fails there.
    assert np.abs(_run(original, far) - group_norm_f64(far, 8, scale, bias)).max() > 1e-4


def test_rank3_and_batch():
    from lotus_export.norm_precision import group_norm_f64

    _, rewritten, scale, bias = _models(c=12, groups=4, rank=3)
    x = np.random.default_rng(1).standard_normal((3, 12, 50), dtype=np.float32) * 3 + 2
    assert np.abs(_run(rewritten, x) - group_norm_f64(x, 4, scale, bias)).max() < 5e-6


def test_rewrite_file_keeps_external_weights(tmp_path):
    import onnx

    from lotus_export.cpu_norms import main

    from lotus_export.norm_precision import session

    original, _, _, _ = _models()
    x = np.random.default_rng(2).standard_normal((1, 16, 8, 8), dtype=np.float32) + 5
    ref = session(original).run(None, {"x": x})[0]
    src = tmp_path / "a" / "m.onnx"
    src.parent.mkdir()
    onnx.save_model(original, str(src), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="m.onnx.data", size_threshold=0)
    dst = tmp_path / "b" / "m.onnx"
    assert main([str(src), str(dst)]) == 0
    assert (dst.parent / "m.onnx.data").exists()
    got = session(onnx.load(str(dst))).run(None, {"x": x})[0]
    assert np.abs(got - ref).max() < 1e-3  # the original loses ~1e-4 at mean 5; same op otherwise


def test_refuses_fp16_exports(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from lotus_export.cpu_norms import main

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 4])
    m = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                                            [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 4])]))
    onnx.save_model(m, str(tmp_path / "h.onnx"))
    with pytest.raises(SystemExit, match="FP16"):
        main([str(tmp_path / "h.onnx")])
