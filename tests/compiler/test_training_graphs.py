"""Training graphs as input (issue 17): a graph that already holds the forward pass, the loss,
gradient ops and optimizer updates (ONNX Runtime's training artifacts; the five CCT-2 training
graphs Deeploy publishes) imports as its forward pass, and the strategy ``exported`` trains what
its optimizer updated.

The graph built here appends to a TorchScript export what such graphs hold (a
SoftmaxCrossEntropyLoss on the logits, a com.microsoft gradient op, one SGD per trained tensor,
the updated tensors as outputs); one step then matches torch.optim.SGD at the graph's learning
rate. Deeploy's own graphs are checked against the updated weights Deeploy publishes beside
them (outputs.npz) when a Deeploy checkout is named by $ET_DEEPLOY_DIR (skipped otherwise:
EdgeTune does not ship them)."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from compiler_helpers import compile_graph, export
from et.compiler.ir import StrategyError
from et.compiler.onnx_import import import_onnx
from et.compiler.reference import Reference
from et.compiler.training import Hyper

LR = 0.03


def training_graph(model: torch.nn.Module, trained: list[str], example) -> onnx.ModelProto:
    """``model``'s export with a loss, a gradient op and an SGD update per tensor of
    ``trained`` appended, in the layout of an ONNX Runtime / Deeploy training graph."""
    proto = export(model, example)
    g = proto.graph
    g.input.append(helper.make_tensor_value_info("labels", TensorProto.INT64, ["batch"]))
    g.node.append(helper.make_node("SoftmaxCrossEntropyLoss", ["output", "labels"], ["loss"],
                                   name="loss"))
    g.node.append(helper.make_node("SoftmaxCrossEntropyLossGrad", ["loss", "labels"],
                                   ["output_grad"], name="loss_grad", domain="com.microsoft"))
    del g.output[:]
    for w in trained:
        g.node.append(helper.make_node("SGD", [w, w + "_grad"], [w + "_updated"], lr=LR,
                                       name=f"sgd_{w}"))
        shape = numpy_helper.to_array(next(t for t in g.initializer if t.name == w)).shape
        g.output.append(helper.make_tensor_value_info(w + "_updated", TensorProto.FLOAT, shape))
    return proto


def test_training_graph_trains_what_its_optimizer_updated():
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 4)).eval()
    trained = ["2.weight", "2.bias"]
    proto = training_graph(model, trained, torch.zeros(1, 10))
    g = import_onnx(proto, batch=3)
    assert g.meta["exported"] == {"trainable": trained, "lr": LR,
                                  "loss": "SoftmaxCrossEntropyLoss"}
    assert g.inputs == ["input"] and {n.op for n in g.nodes} == {"linear", "relu"}
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 10)).astype(np.float32)
    y = rng.integers(0, 4, 3)
    g = compile_graph(proto, "exported", "ce", batch=3, hyper=Hyper(lr=LR))
    assert g.meta["trainable"] == trained
    ref = Reference(g)
    r = ref.step(x, y)
    params = dict(model.named_parameters())
    opt = torch.optim.SGD([params[n] for n in trained], lr=LR)
    loss = torch.nn.functional.cross_entropy(model(torch.tensor(x)), torch.tensor(y))
    loss.backward()
    opt.step()
    assert abs(r["loss"] - loss.item()) <= 1e-6 * abs(loss.item())
    for n in trained:
        want = params[n].detach().numpy()
        assert np.abs(ref.state[n] - want).max() <= 1e-6 * np.abs(want).max(), n


def test_exported_strategy_needs_a_training_graph():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
    with pytest.raises(StrategyError, match="needs a training graph"):
        compile_graph(export(model, torch.zeros(1, 4)), "exported", "ce", batch=1)


DEEPLOY_GRAPHS = ("CCT2_FT1", "CCT2_FT2", "CCT2_LP", "CCT2_LoRA1", "CCT2_LoRA2")


def _deeploy(name: str) -> str:
    root = os.environ.get("ET_DEEPLOY_DIR", "")
    where = os.path.join(root, "DeeployTest", "Tests", "Models", "CCT_Train", name)
    if not root or not os.path.isfile(os.path.join(where, "network.onnx")):
        pytest.skip("Deeploy's CCT training graphs are not here: set ET_DEEPLOY_DIR to a "
                    "checkout of github.com/pulp-platform/Deeploy")
    return where


def _update_error(new: dict, want: dict, init: dict) -> float:
    """The largest difference of the updates, relative to the largest update of the tensor."""
    worst = 0.0
    for k, v in new.items():
        du, dw = np.asarray(v) - init[k], want[k + "_updated"] - init[k]
        worst = max(worst, float(np.abs(du - dw).max() / max(np.abs(dw).max(), 1e-12)))
    return worst


@pytest.mark.parametrize("name", DEEPLOY_GRAPHS)
def test_deeploy_cct_training_graphs_match_deeploys_outputs(name):
    """One step of the reference from Deeploy's training graph and inputs, against the updated
    weights Deeploy publishes: the updates agree within float32 rounding of the weights
    (updates are ~1e-4 of the weights, so 1e-3 of an update is a few ulp of the weight)."""
    where = _deeploy(name)
    g = import_onnx(os.path.join(where, "network.onnx"))
    init = {p.name: p.data.copy() for p in g.params()}
    lr = g.meta["exported"]["lr"]
    g = compile_graph(os.path.join(where, "network.onnx"), "exported", "ce", batch=1,
                      hyper=Hyper(lr=lr))
    inputs = np.load(os.path.join(where, "inputs.npz"))
    want = np.load(os.path.join(where, "outputs.npz"))
    ref = Reference(g)
    ref.step(inputs["input"], inputs["labels"])
    assert sorted(k + "_updated" for k in g.meta["trainable"]) == sorted(want.files)
    assert _update_error({k: ref.state[k] for k in g.meta["trainable"]}, want, init) <= 1e-3


def test_deeploy_cct_lora_training_graph_runs_in_c(tmp_path):
    """The generated program (host) from Deeploy's LoRA training graph, one step, against
    Deeploy's published updated weights."""
    from et.compiler.codegen import GenSpec
    from et.compiler.trainrun import run_training
    where = _deeploy("CCT2_LoRA1")
    model = os.path.join(where, "network.onnx")
    inputs = np.load(os.path.join(where, "inputs.npz"))
    data = os.path.join(str(tmp_path), "data.npz")
    np.savez(data, input=inputs["input"], labels=inputs["labels"])
    g = import_onnx(model)
    init = {p.name: p.data.copy() for p in g.params()}
    spec = GenSpec(model=model, data=data, strategy="exported", lr=g.meta["exported"]["lr"],
                   batch=1, steps=1, target="host")
    res = run_training(spec, "")
    trained = {k: v for k, v in res["arrays"].items() if k != "loss"}
    assert len(trained) == 16
    assert _update_error(trained, np.load(os.path.join(where, "outputs.npz")), init) <= 1e-3
