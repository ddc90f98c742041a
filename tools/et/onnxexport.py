"""The adapted model back as ONNX: the user's model with the tensors the device trained.

``adapted_model(model, trained, lora, mode)`` takes the ONNX file the run was compiled from,
the trained tensors (OUT.npz's arrays, or a run log's ``@tensor`` records) and the LoRA adapters
the strategy inserted (the training graph's ``meta["lora"]``, also in the run's meta.json), and
returns an onnx.ModelProto that onnxruntime runs:

- every trained initializer gets its trained values (in the file's own shape and dtype);
- ``mode="merge"`` (default) folds each adapter into its layer's weight, W + scale * A B (or its
  transpose where the layer reads W transposed): the same graph and size as the input model;
- ``mode="keep"`` leaves the base weights as they were and adds each adapter as nodes beside
  its layer, y = layer(x) + scale * (x A) B, with A and B as new initializers named as in OUT.npz.

Any tensor it cannot place (a trained tensor that is no initializer of the file, a layer whose
input or output is not a value of the file) is an ExportError naming it.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

MODES = ("merge", "keep")


class ExportError(Exception):
    """The adapted model cannot be written as asked (the message names the tensor or layer)."""


def adapted_model(model: str | onnx.ModelProto, trained: dict[str, np.ndarray], lora: list[dict],
                  mode: str = "merge") -> onnx.ModelProto:
    if mode not in MODES:
        raise ExportError(f"LoRA export mode {mode!r}: expected one of {', '.join(MODES)}")
    proto = onnx.load(model) if isinstance(model, str) else onnx.ModelProto.FromString(
        model.SerializeToString())
    inits = {t.name: t for t in proto.graph.initializer}
    adapters = {a["A"] for a in lora} | {a["B"] for a in lora}
    for name, value in trained.items():
        if name in adapters:
            continue
        if name not in inits:
            raise ExportError(f"trained tensor '{name}' is not an initializer of the model; it "
                              "cannot be written back")
        _set(inits[name], np.asarray(value, np.float32))
    for a in lora:
        missing = [k for k in (a["A"], a["B"]) if k not in trained]
        if missing:
            raise ExportError(f"LoRA adapter {', '.join(missing)} of layer {a['layer']} is not "
                              "among the trained tensors")
        A = np.asarray(trained[a["A"]], np.float32)
        B = np.asarray(trained[a["B"]], np.float32)
        if mode == "merge":
            _merge(inits, a, A, B)
        else:
            _keep(proto, a, A, B)
    onnx.checker.check_model(proto)
    return proto


def _set(init, value: np.ndarray) -> None:
    old = numpy_helper.to_array(init)
    if old.size != value.size:
        raise ExportError(f"initializer '{init.name}' holds {old.size} values, the trained "
                          f"tensor {value.size}")
    init.CopyFrom(numpy_helper.from_array(value.reshape(old.shape).astype(old.dtype), init.name))


def _merge(inits: dict, a: dict, A: np.ndarray, B: np.ndarray) -> None:
    w = a["weight"]
    if w not in inits:
        raise ExportError(f"the weight '{w}' of layer {a['layer']} is not an initializer of the "
                          "model (the graph computes it), so the adapter cannot be merged into it; "
                          "export with the adapters kept as nodes (--lora-export keep)")
    W = numpy_helper.to_array(inits[w]).astype(np.float64)
    delta = a["scale"] * (A.astype(np.float64) @ B.astype(np.float64))   # [in, out]
    if a["trans_w"]:
        delta = delta.T                                                    # W is [out, in]
    if W.shape != delta.shape:
        raise ExportError(f"layer {a['layer']}: weight '{w}' {list(W.shape)} does not take an "
                          f"adapter of {list(delta.shape)}")
    _set(inits[w], (W + delta).astype(np.float32))


def _keep(proto: onnx.ModelProto, a: dict, A: np.ndarray, B: np.ndarray) -> None:
    g = proto.graph
    values = {o for n in g.node for o in n.output} | {i.name for i in g.input}
    for role in ("x", "y"):
        if a[role] not in values:
            raise ExportError(f"layer {a['layer']}: its {'input' if role == 'x' else 'output'} "
                              f"'{a[role]}' is not a value of the model (a fused pattern); "
                              "export with the adapters merged (--lora-export merge)")
    y, base = a["y"], a["y"] + "/lora_base"
    for n in g.node:                     # the layer's last node now writes y's base
        n.output[:] = [base if o == y else o for o in n.output]
    pre = a["A"].rsplit(".lora_A", 1)[0]
    g.initializer.extend([numpy_helper.from_array(A, a["A"]), numpy_helper.from_array(B, a["B"])])
    nodes = [helper.make_node("MatMul", [a["x"], a["A"]], [pre + ".lora_xa"], name=pre + "/lora_A"),
             helper.make_node("MatMul", [pre + ".lora_xa", a["B"]], [pre + ".lora_xab"],
                              name=pre + "/lora_B")]
    last = pre + ".lora_xab"
    if a["scale"] != 1.0:
        g.initializer.append(numpy_helper.from_array(np.asarray(a["scale"], np.float32),
                                                     pre + ".lora_scale"))
        nodes.append(helper.make_node("Mul", [last, pre + ".lora_scale"], [pre + ".lora_scaled"],
                                      name=pre + "/lora_scale"))
        last = pre + ".lora_scaled"
    nodes.append(helper.make_node("Add", [base, last], [y], name=pre + "/lora_add"))
    # after the producer of base and before the first reader of y: topological order
    at = 1 + max(i for i, n in enumerate(g.node) if base in n.output)
    for k, n in enumerate(nodes):
        g.node.insert(at + k, n)


def from_run(meta_path: str, lines: list[str], out: str, mode: str = "merge") -> str:
    """Write the adapted model of a generated program's run (its meta.json and log lines) to
    ``out``; returns a line saying what was written, or why not (the log has checksums only,
    a trained tensor is missing, the model is not there)."""
    import json
    import os

    from .compiler.trainrun import TrainError, parse_log

    with open(meta_path) as f:
        meta = json.load(f)
    model = meta.get("model", "")
    if not os.path.exists(model):
        return f"adapted model not written: the model {model} is not there"
    try:
        tensors = parse_log(lines)["tensors"]
    except TrainError as e:
        return f"adapted model not written: {e}"
    names = list(meta.get("trainable", [])) + list(meta.get("buffers", []))
    missing = [n for n in names if n not in tensors]
    if missing:
        return (f"adapted model not written: the log has no full values of {len(missing)} trained "
                f"tensors (e.g. {missing[0]}; dump=full writes them)")
    shapes = meta.get("shapes", {})
    trained = {n: tensors[n].reshape(shapes[n]) if n in shapes else tensors[n] for n in names}
    try:
        proto = adapted_model(model, trained, meta.get("lora", []), mode)
    except ExportError as e:
        return f"adapted model not written: {e}"
    onnx.save(proto, out)
    return f"adapted model: {out} ({len(names)} trained tensors, LoRA {mode}d)" if meta.get("lora") \
        else f"adapted model: {out} ({len(names)} trained tensors)"
