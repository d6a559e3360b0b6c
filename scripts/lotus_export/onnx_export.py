"""torch -> ONNX for LotusGraph with dynamic N, H, W (torch.export + the dynamo ONNX exporter)."""
import time

import onnx
import torch

from .graph import LotusGraph

INPUT_NAMES = ("image", "noise")
OUTPUT_NAME = "prediction"


def export_graph(graph: LotusGraph, opset=21):
    """Return an onnx.ModelProto (float32, weights in memory).

    The sample input uses batch 2 (torch.export specializes 0/1) and a latent size not divisible
    by the UNet's up factor, so diffusers takes the `upsample_size` branch, which resizes every
    decoder level to its skip connection's size: correct for all H, W multiples of 8 (checked on
    divisible and non-divisible sizes by validate.py). Opset >= 21 keeps GroupNorm as one
    GroupNormalization op (and LayerNorm as LayerNormalization) instead of an InstanceNorm
    decomposition, which is what TensorRT's FP16 normalisation handling wants."""
    if opset < 18:
        raise SystemExit(f"--opset {opset}: the exporter needs opset >= 18 (21 recommended)")
    h, w = graph.trace_size()
    image = torch.zeros(2, 3, h, w)
    args = (image, torch.zeros(2, 4, h // 8, w // 8)) if graph.generation else (image,)
    # Dim.DYNAMIC accepts the guards diffusers' Python branches leave (N < 64, h % 4 != 0, ...);
    # they only describe the traced branch and are not in the ONNX graph, which is general.
    dyn = torch.export.Dim.DYNAMIC
    shapes = {"image": {0: dyn, 2: dyn, 3: dyn}}
    if graph.generation:
        shapes["noise"] = {0: dyn, 2: dyn, 3: dyn}
    t0 = time.time()
    with torch.no_grad():
        # Non-strict export: diffusers' shape branches are evaluated on the sample, no graph break.
        ep = torch.export.export(graph, args, dynamic_shapes=shapes, strict=False)
        prog = torch.onnx.export(ep, args, dynamo=True, opset_version=opset,
                                 input_names=list(INPUT_NAMES[: len(args)]), output_names=[OUTPUT_NAME],
                                 optimize=True, verbose=False)
    model = prog.model_proto
    _strip_debug_info(model)
    _rename_dims(model)
    print(f"[export] torch -> ONNX opset {opset} in {time.time() - t0:.1f} s")
    return model


def _strip_debug_info(model):
    """Drop per-node stack traces / fx names the exporter records: they double the size of a small
    model and embed local source paths."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output) + \
            list(model.graph.initializer):
        del v.metadata_props[:]
    del model.graph.metadata_props[:]


def _rename_dims(model):
    """Readable dynamic dim names: N, H, W on image/prediction, N, h, w on noise."""
    names = {"image": ["N", None, "H", "W"], "noise": ["N", None, "h", "w"], "prediction": ["N", None, "H", "W"]}
    for v in list(model.graph.input) + list(model.graph.output):
        for d, nm in zip(v.type.tensor_type.shape.dim, names.get(v.name, [])):
            if nm is not None and not d.HasField("dim_value"):
                d.dim_param = nm


def set_metadata(model, meta):
    del model.metadata_props[:]
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, str(v)


def save(model, path):
    """Save; weights go to `<file>.data` (external data) when the model is over 2 GB."""
    # ByteSize() itself fails past 2 GB, so estimate from the initializers.
    weights = sum(len(t.raw_data) or 4 * len(t.float_data) for t in model.graph.initializer)
    if weights >= 2**31 - 2**26:
        import os

        data = os.path.basename(path) + ".data"
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data, size_threshold=1024)
    else:
        onnx.save_model(model, path)
