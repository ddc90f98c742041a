"""Helpers of the compiler tests: compile an ONNX model, and run the same training in PyTorch.

``compare_training`` runs N SGD steps with the numpy reference of the compiled training graph
and with torch autograd on the original module, side by side, and returns the worst
differences (loss per step, every gradient per step, every parameter after the last step).
Differences are measured relative to the tensor's largest magnitude:
err(a, b) = max|a - b| / max(max|b|, floor), floor 1e-5 for parameters and, for gradients,
1e-3 times the largest gradient magnitude of the step over all trained parameters
(the floor covers gradients that are zero in exact arithmetic, e.g. of a bias in front of a
softmax over the axis it is added along, where both sides return rounding noise of ~1e-9).
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from et.compiler.onnx_import import import_onnx
from et.models.export import export_onnx
from et.compiler.reference import Reference
from et.compiler.training import Hyper, build_training_graph


def export(model: torch.nn.Module, example: torch.Tensor, opset: int = 17,
           folding: bool = True) -> onnx.ModelProto:
    return export_onnx(model, example, opset=opset, constant_folding=folding)


def export_dynamo(model: torch.nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    """The default exporter of torch 2.x (``dynamo=True``, opset 18+), dynamic batch."""
    import logging
    import warnings

    model.eval()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(model, (example,), dynamo=True, input_names=["input"],
                                 output_names=["output"],
                                 dynamic_shapes=({0: torch.export.Dim("batch")},))
    return prog.model_proto


def err(a, b, floor: float = 1e-5) -> float:
    """Largest difference relative to b's largest magnitude; b may be a reshape of a (a 1-D
    convolution's weight trains as [F, C, 1, k], PyTorch's is [F, C, k])."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape and a.size == b.size:
        b = b.reshape(a.shape)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), floor))


def map_params(g, model: torch.nn.Module) -> dict:
    """IR parameter name -> (torch parameter, transposed?) by name (also when the IR stores it
    reshaped, as a 1-D convolution's weight), else by exact value."""
    tp = dict(model.named_parameters())
    out = {}
    for t in g.params():
        if t.name in tp and tp[t.name].numel() == t.size:
            out[t.name] = (tp[t.name], False)
            continue
        for p in tp.values():
            v = p.detach().numpy()
            if v.shape == t.shape and np.array_equal(v, t.data):
                out[t.name] = (p, False)
                break
            if v.ndim == 2 and v.T.shape == t.shape and np.array_equal(v.T, t.data):
                out[t.name] = (p, True)
                break
    return out


def _add_lora(model: torch.nn.Module, g) -> dict:
    """Torch twins of the compiler's LoRA adapters (same A init, B = 0), as forward hooks."""
    extra = {}
    for t in g.params():
        if not t.name.endswith(".lora_A"):
            continue
        scope = t.name[: -len(".lora_A")]
        a = torch.nn.Parameter(torch.tensor(t.data))
        b = torch.nn.Parameter(torch.tensor(g[scope + ".lora_B"].data))
        rank = t.shape[1]
        scale = float(g.meta["lora_alpha"]) / rank
        mod = model.get_submodule(scope)
        mod.register_forward_hook(lambda m, inp, out, a=a, b=b, s=scale: out + s * (inp[0] @ a @ b))
        extra[t.name], extra[scope + ".lora_B"] = (a, False), (b, False)
    return extra


def compile_graph(proto, strategy, loss="ce", batch=4, hyper=None, batchnorm="export",
                  accumulate=1, recompute="off", split=0):
    g = import_onnx(proto, batch=batch, batchnorm=batchnorm)
    build_training_graph(g, strategy, loss, hyper or Hyper(), accumulate, split)
    if recompute != "off":
        from et.compiler.recompute import recompute as add_recomputation
        assert add_recomputation(g, recompute)["nodes"] > 0
    return g


def compare_training(model, proto, strategy, x, y, loss="ce", steps=1,
                     hyper: Hyper | None = None, batchnorm: str = "export",
                     accumulate: int = 1, recompute: str = "off", split: int = 0) -> dict:
    """Train with the reference and with torch; returns the worst errors over all steps
    (loss, grad, param; buffer: BatchNorm's running statistics against the module's buffers of
    the same name) and those of the first step alone (``step1``). The module runs in the mode
    it is in (train() for batch statistics). With ``accumulate`` N the reference trains on N
    micro-batches of len(x) / N per step, torch on the whole batch."""
    hyper = hyper or Hyper(lr=0.05, momentum=0.9, weight_decay=1e-3)
    assert len(x) % accumulate == 0
    g = compile_graph(proto, strategy, loss, batch=len(x) // accumulate, hyper=hyper,
                      batchnorm=batchnorm, accumulate=accumulate, recompute=recompute,
                      split=split)
    buffers = dict(model.named_buffers())
    if strategy.startswith("lora"):
        from et.compiler.training import parse_strategy
        g.meta["lora_alpha"] = parse_strategy(strategy).alpha
    pmap = map_params(g, model)
    pmap.update(_add_lora(model, g))
    missing = [t.name for t in g.params() if t.name not in pmap]
    assert not missing, f"no torch parameter for {missing}"
    for p in model.parameters():
        p.requires_grad_(False)
    trained = g.meta["trainable"]
    tparams = []
    for name in trained:
        p, _ = pmap[name]
        p.requires_grad_(True)
        tparams.append(p)
    opt = torch.optim.SGD(tparams, lr=hyper.lr, momentum=hyper.momentum,
                          weight_decay=hyper.weight_decay)
    ref = Reference(g)
    xt = torch.tensor(x)
    yt = torch.tensor(y)
    worst = {"loss": 0.0, "grad": 0.0, "param": 0.0, "buffer": 0.0, "losses": []}
    for step in range(steps):
        r = ref.step(x, y)
        opt.zero_grad()
        out = model(xt)
        lt = F.cross_entropy(out, yt) if loss == "ce" else F.mse_loss(out, yt)
        lt.backward()
        tgrads = {n: (pmap[n][0].grad.numpy().T if pmap[n][1] else pmap[n][0].grad.numpy())
                  for n in trained}
        floor = 1e-3 * max(float(np.abs(v).max()) for v in tgrads.values())
        for name in trained:
            worst["grad"] = max(worst["grad"], err(r["grads"][name], tgrads[name], floor))
        worst["loss"] = max(worst["loss"], abs(r["loss"] - lt.item()) / max(abs(lt.item()), 1e-6))
        worst["losses"].append((r["loss"], lt.item()))
        opt.step()
        if step == 0 or step == steps - 1:
            for t in g.params():
                p, tr = pmap[t.name]
                tv = p.detach().numpy().T if tr else p.detach().numpy()
                worst["param"] = max(worst["param"], err(ref.state[t.name], tv))
        for name in g.meta.get("buffers", []):
            worst["buffer"] = max(worst["buffer"], err(ref.state[name], buffers[name].numpy()))
        if step == 0:
            worst["step1"] = {k: worst[k] for k in ("loss", "grad", "param")}
    worst["graph"] = g
    return worst


def assert_trains_like_torch(model, proto, x, y, loss="ce", steps=3, strategy="all",
                             grad_tol=2e-3, batchnorm="export") -> dict:
    """compare_training with the tolerances of the model-zoo tests (loss 1e-4, every gradient
    ``grad_tol``, every update and running statistic 1e-5, relative); returns the result (its
    ``graph`` included)."""
    res = compare_training(model, proto, strategy, x, y, loss, steps, batchnorm=batchnorm)
    assert res["loss"] <= 1e-4 and res["grad"] <= grad_tol and res["param"] <= 1e-5, res
    assert res["buffer"] <= 1e-5, res
    return res
