"""MLPerf Tiny's CNNs as their users write them in PyTorch: ResNet-8 (residual blocks, AvgPool
over the whole map), DS-CNN and a MobileNetV1-style stack (depthwise separable convolutions,
global average pooling), at reduced sizes.

Without BatchNorm each trains like PyTorch autograd with both exporters (numpy reference, every
strategy that applies). With BatchNorm in eval mode, both exporters fold it into the
convolution: EdgeTune then trains the folded convolutions (a different parameterization from
PyTorch's conv + BatchNorm affine, so compared with the reference, not with autograd); the
generated C matches the reference on host and qemu."""
from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from codegen_helpers import assert_runs_in_c
from compiler_helpers import assert_trains_like_torch, export, export_dynamo
from et.models import zoo
from et.models.zoo import DSCNN, SMALL_MOBILENET, MobileNetV1, ResNet8

EXPORTERS = {"torchscript": lambda m, x: export(m, x, opset=17), "dynamo": export_dynamo}


MODELS = {"resnet8": (lambda bn: ResNet8(bn, img=16), (3, 16, 16), 10),
          "dscnn": (lambda bn: DSCNN(bn, c=16, blocks=2), (1, 20, 10), 12),
          "mobilenet": (lambda bn: MobileNetV1(bn, width=1.0, cfg=SMALL_MOBILENET), (3, 24, 24), 2)}


def _model(name, bn=True):
    cls, shape, classes = MODELS[name]
    torch.manual_seed(1)
    model = cls(bn).eval()
    with torch.no_grad():   # BatchNorm with statistics of a trained model, not the identity
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3,) + shape).astype(np.float32)
    return model, x, rng.integers(0, classes, 3)


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
@pytest.mark.parametrize("name,strategy", [(m, s) for m in ("resnet8", "dscnn", "mobilenet")
                                           for s in ("last", "blocks:1", "all")])
def test_edge_cnn_trains_like_torch(name, strategy, exporter):
    model, x, y = _model(name, bn=False)
    proto = EXPORTERS[exporter](model, torch.zeros((1,) + x.shape[1:]))
    res = assert_trains_like_torch(model, proto, x, y, strategy=strategy)
    ops = {n.op for n in res["graph"].nodes}
    assert ("dwconv2d" in ops) == (name != "resnet8")


@pytest.mark.parametrize("name,target", [("dscnn", "host"), ("mobilenet", "host"),
                                         pytest.param("dscnn", "qemu", marks=pytest.mark.qemu),
                                         ("dscnn", "siracusa")])
def test_edge_cnn_runs_in_c(tmp_path, name, target):
    """The generated program against the reference; on siracusa in GVSoC's Siracusa model
    (skipped with the reason when GVSoC is not installed)."""
    if target == "siracusa":
        from gvsoc_util import require_gvsoc
        require_gvsoc()
    model, x, y = _model(name)
    out = assert_runs_in_c(tmp_path, model, torch.zeros((1,) + x.shape[1:]), x, y,
                           target=target, name=name, timeout=1200)
    # OUT.npz names the module of every tensor TorchScript named itself (folded BatchNorm)
    modules, arrays = out["modules"], out["arrays"]
    assert set(modules) == {k for k in arrays if k.startswith("onnx::") and not k.endswith("_grad")}
    assert all(m.endswith((".weight", ".bias")) for m in modules.values())
    saved = np.load(tmp_path / f"{name}_out.npz")
    assert sorted(saved["_modules"]) == sorted(f"{p}={m}" for p, m in modules.items())


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_batchnorm_in_eval_mode_is_folded(exporter):
    """Both exporters fold eval-mode BatchNorm into the convolution: the model imports, its
    trained tensors are the folded convolutions (with a bias each)."""
    from et.compiler.onnx_import import import_onnx
    model, x, _ = _model("dscnn")
    g = import_onnx(EXPORTERS[exporter](model, torch.zeros((1,) + x.shape[1:])), batch=1)
    assert {n.op for n in g.nodes} >= {"conv2d", "dwconv2d", "reduce_mean", "linear"}
    convs = [n for n in g.nodes if n.op in ("conv2d", "dwconv2d")]
    assert len(convs) == 5 and all(len(n.inputs) == 3 for n in convs)
    # the folded layers under the PyTorch module they came from (TorchScript names them
    # onnx::Conv_<k>; the dynamo exporter keeps the convolution's name)
    modules = {m for m, mod in model.named_modules() if isinstance(mod, nn.Conv2d)}
    for n in convs:
        for p, role in zip(n.inputs[1:], ("weight", "bias")):
            name = g.meta["modules"].get(p, p)
            assert name.rsplit(".", 1)[0] in modules and name.endswith(role), (p, name)


class GroupedCNN(nn.Module):
    """Grouped convolutions between dense and depthwise, as ResNeXt and ShuffleNet use them: a
    3x3 convolution in 2 groups, a grouped 1x1 in 4, a stride-2 3x3 in 3 groups."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.g3 = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.g1 = nn.Conv2d(8, 12, 1, groups=4)
        self.down = nn.Conv2d(12, 6, 3, stride=2, padding=1, groups=3)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = torch.relu(self.g1(torch.relu(self.g3(h)))) + torch.cat([h, h[:, :4]], 1)
        return self.fc(self.down(h).mean((2, 3)))


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_grouped_conv_trains_like_torch(exporter):
    torch.manual_seed(9)
    model = GroupedCNN().eval()
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    proto = EXPORTERS[exporter](model, torch.zeros(1, 3, 8, 8))
    res = assert_trains_like_torch(model, proto, x, rng.integers(0, 5, 2))
    groups = sorted(n.attrs.get("group", 1) for n in res["graph"].nodes
                    if n.op == "conv2d" and n.phase == "fwd")
    assert groups == [1, 2, 3, 4]


@pytest.mark.parametrize("target", ["host", pytest.param("qemu", marks=pytest.mark.qemu),
                                    pytest.param("siracusa", marks=pytest.mark.gvsoc)])
def test_grouped_conv_runs_in_c(tmp_path, target):
    if target == "siracusa":
        from gvsoc_util import require_gvsoc
        require_gvsoc()
    torch.manual_seed(9)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    assert_runs_in_c(tmp_path, GroupedCNN().eval(), torch.zeros(1, 3, 8, 8), x,
                     rng.integers(0, 5, 4), target=target, name="grouped")


def DeepAEBN():
    """MLPerf Tiny anomaly detection's autoencoder (Linear, BatchNorm1d, ReLU), narrowed."""
    return zoo.DeepAEBN(20, 12, 4, 2)


class ConvReluBN(nn.Module):
    """BatchNorm2d after the activation, where no exporter folds it."""

    def __init__(self):
        super().__init__()
        self.c, self.bn, self.fc = nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Linear(4 * 9, 3)

    def forward(self, x):
        return self.fc(self.bn(torch.relu(self.c(x))).flatten(1))


def _with_stats(model):
    torch.manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_batchnorm_frozen_statistics_trains_like_torch(exporter):
    """BatchNormalization left in the graph (after a Linear, or after an activation) trains its
    gamma and beta like PyTorch in eval mode; the running statistics stay fixed. The dynamo
    exporter folds BatchNorm1d after a Linear into the Linear (then the folded Linear trains)."""
    from et.compiler.onnx_import import import_onnx
    rng = np.random.default_rng(4)
    torch.manual_seed(2)
    ae = _with_stats(DeepAEBN())
    twin = copy.deepcopy(ae)   # the model as exported (training changes ae)
    x = rng.standard_normal((4, 20)).astype(np.float32)
    proto = EXPORTERS[exporter](ae, torch.zeros(2, 20))
    if exporter == "dynamo":
        assert not any(t.name.startswith("net.1.") for t in import_onnx(proto, batch=4).params())
    else:
        assert_trains_like_torch(ae, proto, x, x, loss="mse")
        assert_trains_like_torch(twin, proto, x, x, loss="mse", strategy="last")
    cnn = _with_stats(ConvReluBN())
    x = rng.standard_normal((3, 2, 5, 5)).astype(np.float32)
    res = assert_trains_like_torch(cnn, EXPORTERS[exporter](cnn, torch.zeros(1, 2, 5, 5)), x,
                                   np.array([0, 2, 1]))
    assert "bn.weight" in res["graph"].meta["trainable"]


def test_batchnorm_runs_in_c(tmp_path):
    ae = _with_stats(DeepAEBN())
    x = np.random.default_rng(5).standard_normal((4, 20)).astype(np.float32)
    assert_runs_in_c(tmp_path, ae, torch.zeros(2, 20), x, x, loss="mse")


def _training_export(model, example) -> onnx.ModelProto:
    """A TorchScript export in training mode: BatchNormalization with training_mode=1."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.train(), (example,), buf, dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    return onnx.load_from_string(buf.getvalue())


@pytest.mark.parametrize("batch", [1, 3])
def test_batchnorm_batch_statistics_train_like_torch(batch):
    """A training-mode export normalizes with the batch's statistics and updates the running
    ones as PyTorch's train() does (loss, gradients, updates and running statistics, 3 steps);
    batch 1 of a BatchNorm2d takes the statistics over the image's 9 positions alone, which
    amplifies float32 rounding step after step (both sides stay ~1e-7 from a float64 run, but
    drift apart by up to 1e-4 by step 3 on some seeds), so it is compared after one step."""
    rng = np.random.default_rng(6)
    torch.manual_seed(6)
    cnn = _with_stats(ConvReluBN())
    proto = _training_export(cnn, torch.zeros(1, 2, 5, 5))
    x = rng.standard_normal((batch, 2, 5, 5)).astype(np.float32)
    res = assert_trains_like_torch(cnn.train(), proto, x, rng.integers(0, 3, batch),
                                   steps=3 if batch > 1 else 1)
    assert {n.op for n in res["graph"].nodes} >= {"layernorm", "bn_running"}
    assert res["graph"].meta["buffers"] == ["bn.running_mean", "bn.running_var"]
    ae = _with_stats(DeepAEBN())   # BatchNorm1d: statistics over the batch's 8 samples
    x = rng.standard_normal((8, 20)).astype(np.float32)
    assert_trains_like_torch(ae.train(), _training_export(ae, torch.zeros(2, 20)), x, x,
                             loss="mse")


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_batchnorm_mode_is_the_users_choice(exporter):
    """--batchnorm batch trains an eval-mode export with batch statistics; --batchnorm frozen
    keeps a training-mode export's running statistics fixed."""
    rng = np.random.default_rng(7)
    cnn = _with_stats(ConvReluBN())
    x = rng.standard_normal((3, 2, 5, 5)).astype(np.float32)
    y = rng.integers(0, 3, 3)
    proto = EXPORTERS[exporter](cnn, torch.zeros(1, 2, 5, 5))
    assert_trains_like_torch(cnn.train(), proto, x, y, batchnorm="batch")
    cnn = _with_stats(ConvReluBN())
    proto = _training_export(cnn, torch.zeros(1, 2, 5, 5))
    res = assert_trains_like_torch(cnn.eval(), proto, x, y, batchnorm="frozen")
    assert "bn_running" not in {n.op for n in res["graph"].nodes}


def test_batchnorm_batch_statistics_of_one_value_are_refused():
    from et.compiler.ir import UnsupportedOpError
    from et.compiler.onnx_import import import_onnx
    proto = _training_export(DeepAEBN(), torch.zeros(2, 20))
    with pytest.raises(UnsupportedOpError) as e:
        import_onnx(proto, batch=1)
    assert "batch statistics over 1 value per channel" in str(e.value)
    assert "--batchnorm frozen" in str(e.value)
    assert import_onnx(proto, batch=1, batchnorm="frozen").nodes


@pytest.mark.parametrize("target", ["host", pytest.param("qemu", marks=pytest.mark.qemu),
                                    pytest.param("siracusa", marks=pytest.mark.gvsoc)])
def test_batchnorm_batch_statistics_run_in_c(tmp_path, target):
    """The generated program with batch statistics: loss, parameters, gradients and the
    running statistics the device writes back, against the reference (siracusa: in GVSoC)."""
    if target == "siracusa":
        from gvsoc_util import require_gvsoc
        require_gvsoc()
    rng = np.random.default_rng(8)
    # batch 8 (over 2 values BatchNorm1d passes no gradient); the biases of the Linear layers
    # in front of a BatchNorm get a zero gradient in exact arithmetic: rounding on both sides
    ae = _with_stats(DeepAEBN())
    x = rng.standard_normal((16, 20)).astype(np.float32)
    assert_runs_in_c(tmp_path, ae, torch.zeros(2, 20), x, x, loss="mse", target=target,
                     name="ae_bn", batchnorm="batch", batch=8,
                     exactly_zero=[f"net.{k}.bias" for k in (0, 3, 6, 9, 12)])
    cnn = _with_stats(ConvReluBN())
    x = rng.standard_normal((4, 2, 5, 5)).astype(np.float32)
    assert_runs_in_c(tmp_path, cnn, torch.zeros(1, 2, 5, 5), x, rng.integers(0, 3, 4),
                     target=target, name="cnn_bn", batchnorm="batch")


class Conv1dAE(nn.Module):
    """A 1-D convolutional autoencoder for sensor signals (stride 2 down, padding, ReLU)."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv1d(2, 6, 5, stride=2, padding=2), nn.ReLU(),
                                 nn.Conv1d(6, 4, 3, padding=1), nn.ReLU())
        self.dec = nn.Linear(4 * 8, 2 * 16)

    def forward(self, x):
        return self.dec(self.enc(x).flatten(1)).reshape(x.shape)


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_conv1d_trains_like_torch(exporter):
    """1-D convolution runs as the 2-D kernel on [N, C, 1, L]; its weight trains as
    [F, C, 1, k] (PyTorch's [F, C, k] reshaped)."""
    torch.manual_seed(7)
    model = Conv1dAE().eval()
    x = np.random.default_rng(8).standard_normal((3, 2, 16)).astype(np.float32)
    res = assert_trains_like_torch(model, EXPORTERS[exporter](model, torch.zeros(1, 2, 16)), x, x,
                                   loss="mse")
    assert res["graph"]["enc.0.weight"].shape == (6, 2, 1, 5)


def test_conv1d_runs_in_c(tmp_path):
    torch.manual_seed(7)
    x = np.random.default_rng(9).standard_normal((4, 2, 16)).astype(np.float32)
    model = Conv1dAE().eval()
    out = assert_runs_in_c(tmp_path, model, torch.zeros(1, 2, 16), x, x, loss="mse")["arrays"]
    for name, p in model.named_parameters():   # written back in the model's shapes
        assert out[name].shape == tuple(p.shape) == out[name + "_grad"].shape, name
