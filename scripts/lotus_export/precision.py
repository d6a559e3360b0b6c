"""FP32 -> FP16 ONNX graph conversion that keeps the numerically fragile ops in FP32.

TensorRT 11 only builds FP16 from a strongly typed FP16 network, so the graph itself must say
which ops run in FP16. Everything becomes FP16 (weights, activations, I/O) except:
  * GroupNormalization / LayerNormalization: mean/variance over up to 1280*96*96 values overflow
    or lose all precision in FP16 (sum of squares > 65504); run in FP32 between Casts, with their
    scale/bias kept FP32.
  * Softmax of the attention scores: exp() of FP16 logits saturates; run in FP32 between Casts.
  * Resize `roi`/`scales` inputs: the op requires them float32.
See docs/export.md for the measurements behind this list.
"""
import onnx
from onnx import TensorProto, helper, numpy_helper

FP32_OPS = ("GroupNormalization", "LayerNormalization", "Softmax")
F32, F16 = TensorProto.FLOAT, TensorProto.FLOAT16
# (op_type, input index) slots that must stay float32 whatever the graph's precision.
_FLOAT32_SLOTS = {("Resize", 1), ("Resize", 2)}


def convert_fp16(model, fp32_ops=FP32_OPS):
    g = model.graph
    if any(len(f.node) for f in model.functions):
        raise SystemExit("fp16 conversion: model has local functions; export with optimize=True inlines them")
    consumers = {}
    for node in g.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))

    def stays_fp32(name):
        uses = consumers.get(name, [])
        return bool(uses) and all(n.op_type in fp32_ops or (n.op_type, i) in _FLOAT32_SLOTS for n, i in uses)

    for init in g.initializer:
        if init.data_type == F32 and not stays_fp32(init.name):
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype("float16"), init.name))
    keep32 = {i.name for i in g.initializer if i.data_type == F32}

    new_nodes = []
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.data_type == F32 and not stays_fp32(node.output[0]):
                    a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype("float16"), a.t.name))
            keep32.update(o for o in node.output if stays_fp32(o))
        elif node.op_type == "Cast":
            for a in node.attribute:
                if a.name == "to" and a.i == F32:
                    a.i = F16
        elif node.op_type == "ConstantOfShape":
            for a in node.attribute:
                if a.name == "value" and a.t.data_type == F32:
                    a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype("float16")))
        if node.op_type in fp32_ops:
            # Cast FP16 activations in, run the op in FP32, cast the result back.
            for i, name in enumerate(node.input):
                if name and name not in keep32:
                    c = f"{name}__to_fp32_{len(new_nodes)}"
                    new_nodes.append(helper.make_node("Cast", [name], [c], to=F32, name=c))
                    node.input[i] = c
            outs = list(node.output)
            for i, name in enumerate(outs):
                if name:
                    node.output[i] = f"{name}__fp32"
            new_nodes.append(node)
            for name in outs:
                if name:
                    new_nodes.append(helper.make_node("Cast", [f"{name}__fp32"], [name], to=F16,
                                                      name=f"{name}__to_fp16"))
            for a in node.attribute:
                if a.name == "stash_type":
                    a.i = 1  # statistics in float32
            continue
        new_nodes.append(node)
    del g.node[:]
    g.node.extend(new_nodes)

    for v in list(g.input) + list(g.output):
        if v.type.tensor_type.elem_type == F32:
            v.type.tensor_type.elem_type = F16
    del g.value_info[:]  # stale FP32 types; ORT/TensorRT re-infer
    onnx.checker.check_model(model)
    return model
