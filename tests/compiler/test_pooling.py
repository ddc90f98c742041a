"""Average pooling the way edge CNNs and ViTs write it: nn.AdaptiveAvgPool2d(1) (GlobalAveragePool
or ReduceMean, by exporter), nn.AvgPool2d over the whole map (ResNet-8, DS-CNN), a mean over
the spatial axes, a ViT's token mean, and windowed nn.AvgPool2d (a depthwise convolution with a
constant weight). Each trains like PyTorch with both exporters (numpy reference), and the
generated C on host matches the reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from codegen_helpers import assert_runs_in_c
from compiler_helpers import assert_trains_like_torch, export, export_dynamo
from et.compiler.ir import UnsupportedOpError
from et.compiler.onnx_import import import_onnx

EXPORTERS = {"torchscript": lambda m, x: export(m, x, opset=17), "dynamo": export_dynamo}


class PoolCNN(nn.Module):
    def __init__(self, pool: str):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)
        self.pool = pool
        self.adaptive, self.avg = nn.AdaptiveAvgPool2d(1), nn.AvgPool2d(6)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        if self.pool == "adaptive":
            h = self.adaptive(h).flatten(1)
        elif self.pool == "avgpool":
            h = self.avg(h).flatten(1)
        else:
            h = h.mean(dim=(2, 3))
        return self.fc(h)


class TokenMean(nn.Module):
    """A ViT head: tokens [B, T, D] averaged over T, then a classifier."""

    def __init__(self):
        super().__init__()
        self.embed, self.fc = nn.Linear(5, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.embed(x)).mean(1))


def _cnn_data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((4, 3, 6, 6)).astype(np.float32), np.array([0, 1, 2, 3])


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
@pytest.mark.parametrize("pool", ["adaptive", "avgpool", "mean"])
def test_global_average_pooling_trains_like_torch(exporter, pool):
    torch.manual_seed(2)
    model = PoolCNN(pool).eval()
    proto = EXPORTERS[exporter](model, torch.zeros(2, 3, 6, 6))
    x, y = _cnn_data()
    res = assert_trains_like_torch(model, proto, x, y, steps=5, grad_tol=1e-3)
    means = [n for n in res["graph"].nodes if n.op == "reduce_mean" and n.phase == "fwd"]
    assert len(means) == 1 and means[0].attrs["axes"] == [2, 3]


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_token_mean_trains_like_torch(exporter):
    torch.manual_seed(3)
    model = TokenMean().eval()
    proto = EXPORTERS[exporter](model, torch.zeros(2, 6, 5))
    x = np.random.default_rng(8).standard_normal((3, 6, 5)).astype(np.float32)
    assert_trains_like_torch(model, proto, x, np.array([0, 2, 1]), steps=5, grad_tol=1e-3)


@pytest.mark.parametrize("pool", ["adaptive", "avgpool", "mean"])
def test_global_average_pooling_runs_in_c(tmp_path, pool):
    torch.manual_seed(4)
    x, y = _cnn_data()
    assert_runs_in_c(tmp_path, PoolCNN(pool), torch.zeros(1, 3, 6, 6), x, y)


class WindowedCNN(nn.Module):
    """Windowed average pooling between convolutions: 2x2 stride 2, and 3x3 stride 1 padded
    (counting the padding, PyTorch's default)."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 6, 3, padding=1), nn.Linear(6 * 3 * 3, 4)
        self.p2, self.p3 = nn.AvgPool2d(2), nn.AvgPool2d(3, 1, 1)

    def forward(self, x):
        return self.fc(self.p3(self.p2(torch.relu(self.conv(x)))).flatten(1))


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_windowed_average_pooling_trains_like_torch(exporter):
    torch.manual_seed(5)
    model = WindowedCNN().eval()
    proto = EXPORTERS[exporter](model, torch.zeros(2, 3, 6, 6))
    x, y = _cnn_data()
    res = assert_trains_like_torch(model, proto, x, y, steps=3)
    assert [n.op for n in res["graph"].nodes if n.phase == "fwd"].count("dwconv2d") == 2


def test_windowed_average_pooling_runs_in_c(tmp_path):
    torch.manual_seed(6)
    x, y = _cnn_data()
    assert_runs_in_c(tmp_path, WindowedCNN(), torch.zeros(1, 3, 6, 6), x, y, name="windowed")


def test_average_pooling_limits_are_refused_at_import():
    """What the depthwise kernel cannot compute is refused at import, naming the limit:
    ceil mode, and padding not counted in the divisor (ONNX's default)."""
    class Pool(nn.Module):
        def __init__(self, **kw):
            super().__init__()
            self.kw = kw

        def forward(self, x):
            return nn.functional.avg_pool2d(x, 3, **self.kw)

    for kw, words in (({"ceil_mode": True}, "ceil_mode"),
                      ({"padding": 1, "count_include_pad": False}, "count_include_pad=0")):
        with pytest.raises(UnsupportedOpError) as e:
            import_onnx(export(Pool(**kw), torch.zeros(1, 3, 7, 7)))
        assert "'AveragePool'" in str(e.value) and words in str(e.value), str(e.value)
