"""Numpy reference executor of a training graph: forward, loss, backward and SGD, node by node.

It runs exactly the IR's node list, one numpy function per kernel (``KERNELS``, keyed by the C
function name the node maps to), in float32 like the firmware, so it is the oracle the
generated C is compared against and it fixes the kernels' semantics:
- linear: Y = X W + b with W [K, N], or Y = X W^T + b with W [N, K] when ``trans_w`` (the
  ONNX Gemm transB / torch nn.Linear layout); X may have leading batch dimensions;
- conv2d: NCHW, weight [F, C, kh, kw], pads [top, left, bottom, right];
- max-pool backward routes each gradient to the first maximum of its window (row-major), as
  PyTorch does; relu backward passes the gradient where the output is > 0;
- layernorm backward recomputes mean and 1/std from X (no saved statistics);
- softmax_ce: mean over the batch; its backward (softmax - onehot) / batch seeds the backward;
- sgd: g' = g + wd p; buf = momentum buf + g' (buf starts at 0); p -= lr buf (torch.optim.SGD).
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .ir import CompileError, Graph, Node

F32 = np.float32
_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    return _erf(x.astype(np.float64)).astype(np.float64)


def _pad(x, p, value=0.0):
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])), constant_values=value)


def _windows(x, k, st, p, value=0.0):
    """[N, C, Ho, Wo, kh, kw] view of the padded input's windows."""
    xp = _pad(x, p, value)
    w = sliding_window_view(xp, tuple(k), axis=(2, 3))
    return w[:, :, ::st[0], ::st[1]]


def _cols(x, k, st, p):
    w = _windows(x, k, st, p)
    n, c, ho, wo = w.shape[:4]
    return w.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k[0] * k[1]), (n, ho, wo)


def conv_fwd(a, x, w, b=None):
    k = w.shape[2:]
    cols, (n, ho, wo) = _cols(x, k, a["strides"], a["pads"])
    y = cols @ w.reshape(w.shape[0], -1).T
    if b is not None:
        y = y + b
    return y.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)


def conv_igrad(a, dy, w, xshape):
    n, c, h, wd = xshape
    f, _, kh, kw = w.shape
    st, p = a["strides"], a["pads"]
    ho, wo = dy.shape[2:]
    dcols = dy.transpose(0, 2, 3, 1).reshape(-1, f) @ w.reshape(f, -1)
    dcols = dcols.reshape(n, ho, wo, c, kh, kw)
    dxp = np.zeros((n, c, h + p[0] + p[2], wd + p[1] + p[3]), F32)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + st[0] * ho:st[0], j:j + st[1] * wo:st[1]] += \
                dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dxp[:, :, p[0]:p[0] + h, p[1]:p[1] + wd]


def conv_wgrad(a, dy, x, wshape):
    cols, _ = _cols(x, wshape[2:], a["strides"], a["pads"])
    dy2 = dy.transpose(0, 2, 3, 1).reshape(-1, wshape[0])
    return (dy2.T @ cols).reshape(wshape), dy2.sum(0)


def maxpool_fwd(a, x):
    w = _windows(x, a["kernel"], a["strides"], a["pads"], -np.inf)
    return w.max(axis=(4, 5))


def maxpool_igrad(a, dy, x):
    k, st, p = a["kernel"], a["strides"], a["pads"]
    w = _windows(x, k, st, p, -np.inf)
    n, c, ho, wo = w.shape[:4]
    arg = w.reshape(n, c, ho, wo, -1).argmax(-1)
    dxp = np.zeros((n, c, x.shape[2] + p[0] + p[2], x.shape[3] + p[1] + p[3]), F32)
    for i in range(k[0]):
        for j in range(k[1]):
            dxp[:, :, i:i + st[0] * ho:st[0], j:j + st[1] * wo:st[1]] += \
                np.where(arg == i * k[1] + j, dy, 0)
    return dxp[:, :, p[0]:p[0] + x.shape[2], p[1]:p[1] + x.shape[3]]


def linear_fwd(a, x, w, b=None):
    y = x @ (w.T if a.get("trans_w") else w)
    return y + b if b is not None else y


def linear_igrad(a, dy, w):
    return dy @ (w if a.get("trans_w") else w.T)


def linear_wgrad(a, dy, x):
    k, n = x.shape[-1], dy.shape[-1]
    x2, d2 = x.reshape(-1, k), dy.reshape(-1, n)
    out = []
    if a.get("dw", True):
        out.append(d2.T @ x2 if a.get("trans_w") else x2.T @ d2)
    if a.get("db"):
        out.append(d2.sum(0))
    return out


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def layernorm_stats(x, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + F32(eps))
    return (x - mu) * rstd, rstd


def layernorm_igrad(a, dy, x, gamma):
    xh, rstd = layernorm_stats(x, a["eps"])
    dxh = dy * gamma
    return rstd * (dxh - dxh.mean(-1, keepdims=True) - xh * (dxh * xh).mean(-1, keepdims=True))


def layernorm_wgrad(a, dy, x):
    xh, _ = layernorm_stats(x, a["eps"])
    d = dy.shape[-1]
    out = []
    if a.get("dw", True):
        out.append((dy * xh).reshape(-1, d).sum(0))
    if a.get("db", True):
        out.append(dy.reshape(-1, d).sum(0))
    return out


_GELU_K = math.sqrt(2.0 / math.pi)  # the tanh form: 0.5 x (1 + tanh(k (x + 0.044715 x^3)))


def gelu(x, approximate: str = "none"):
    if approximate == "tanh":
        x64 = x.astype(np.float64)
        return (0.5 * x64 * (1.0 + np.tanh(_GELU_K * (x64 + 0.044715 * x64 ** 3)))).astype(F32)
    return (0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))).astype(F32)


def gelu_igrad(dy, x, approximate: str = "none"):
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        t = np.tanh(_GELU_K * (x64 + 0.044715 * x64 ** 3))
        d = 0.5 * (1.0 + t) + 0.5 * x64 * (1.0 - t * t) * _GELU_K * (1.0 + 3 * 0.044715 * x64 * x64)
    else:
        d = 0.5 * (1.0 + erf(x64 / math.sqrt(2.0))) + x64 * np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi)
    return dy * d.astype(F32)


def reduce_sum(dy, shape):
    shape = tuple(shape)
    lead = dy.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and dy.shape[lead + i] != 1)
    return dy.sum(axis=axes).reshape(shape)


def slice_fwd(a, x):
    idx = [slice(None)] * x.ndim
    for ax, s, e in zip(a["axes"], a["starts"], a["ends"]):
        idx[ax] = slice(s, e)
    return x[tuple(idx)]


def slice_igrad(a, dy, xshape):
    out = np.zeros(xshape, F32)
    idx = [slice(None)] * len(xshape)
    for ax, s, e in zip(a["axes"], a["starts"], a["ends"]):
        idx[ax] = slice(s, e)
    out[tuple(idx)] = dy
    return out


def softmax_ce(logits, labels):
    p = softmax(logits.astype(F32))
    n = logits.shape[0]
    return F32(-np.log(p[np.arange(n), labels.astype(np.int64)]).mean())


def softmax_ce_igrad(logits, labels):
    p = softmax(logits.astype(F32))
    n = logits.shape[0]
    p[np.arange(n), labels.astype(np.int64)] -= 1.0
    return p / F32(n)


def matmul_fwd(a, x, y):
    return x @ (np.swapaxes(y, -1, -2) if a.get("trans_b") else y)


def matmul_igrad(a, dy, other):
    t = lambda m: np.swapaxes(m, -1, -2)
    tb = a.get("trans_b")
    if a["operand"] == 0:
        return dy @ (other if tb else t(other))
    return t(dy) @ other if tb else t(other) @ dy


def sgd(a, p, g, buf=None):
    d = g + F32(a["weight_decay"]) * p if a["weight_decay"] else g
    if buf is not None:
        buf = F32(a["momentum"]) * buf + d
        d = buf
    return [p - F32(a["lr"]) * d] + ([buf] if buf is not None else [])


def _mean_igrad(a, dy, xshape):
    n = int(np.prod([xshape[i] for i in a["axes"]]))
    if not a["keepdims"]:
        for ax in sorted(a["axes"]):
            dy = np.expand_dims(dy, ax)
    return np.broadcast_to(dy / F32(n), xshape)


# kernel name -> f(node, graph, *input arrays) -> output array or list of arrays
KERNELS = {
    "et_conv2d_fwd_f32": lambda n, g, *v: conv_fwd(n.attrs, *v),
    "et_conv2d_bwd_igrad_f32": lambda n, g, dy, w: conv_igrad(n.attrs, dy, w, g[n.attrs["x"]].shape),
    "et_conv2d_bwd_wgrad_f32": lambda n, g, dy, x: [o for o, keep in zip(
        conv_wgrad(n.attrs, dy, x, g[n.attrs["w"]].shape), (n.attrs["dw"], n.attrs["db"])) if keep],
    "et_maxpool2d_fwd_f32": lambda n, g, x: maxpool_fwd(n.attrs, x),
    "et_maxpool2d_bwd_igrad_f32": lambda n, g, dy, x: maxpool_igrad(n.attrs, dy, x),
    "et_relu_fwd_f32": lambda n, g, x: np.maximum(x, 0),
    "et_relu_bwd_igrad_f32": lambda n, g, dy, y: np.where(y > 0, dy, 0),
    "et_gelu_fwd_f32": lambda n, g, x: gelu(x, n.attrs.get("approximate", "none")),
    "et_gelu_bwd_igrad_f32": lambda n, g, dy, x: gelu_igrad(dy, x, n.attrs.get("approximate", "none")),
    "et_linear_fwd_f32": lambda n, g, *v: linear_fwd(n.attrs, *v),
    "et_linear_bwd_igrad_f32": lambda n, g, dy, w: linear_igrad(n.attrs, dy, w),
    "et_linear_bwd_wgrad_f32": lambda n, g, dy, x: linear_wgrad(n.attrs, dy, x),
    "et_matmul_fwd_f32": lambda n, g, x, y: matmul_fwd(n.attrs, x, y),
    "et_matmul_bwd_igrad_f32": lambda n, g, dy, o: matmul_igrad(n.attrs, dy, o),
    "et_add_fwd_f32": lambda n, g, x, y: x + y,
    "et_sub_fwd_f32": lambda n, g, x, y: x - y,
    "et_mul_fwd_f32": lambda n, g, x, y: x * y,
    "et_div_fwd_f32": lambda n, g, x, y: x / y,
    "et_div_bwd_igrad_f32": lambda n, g, dy, x, y: -dy * x / (y * y),
    "et_pow_fwd_f32": lambda n, g, x: np.power(x, F32(n.attrs["exponent"])),
    "et_pow_bwd_igrad_f32": lambda n, g, dy, x: dy * F32(n.attrs["exponent"]) * np.power(
        x, F32(n.attrs["exponent"] - 1)),
    "et_sqrt_fwd_f32": lambda n, g, x: np.sqrt(x),
    "et_sqrt_bwd_igrad_f32": lambda n, g, dy, y: dy * F32(0.5) / y,
    "et_softmax_fwd_f32": lambda n, g, x: softmax(x),
    "et_softmax_bwd_igrad_f32": lambda n, g, dy, y: y * (dy - (dy * y).sum(-1, keepdims=True)),
    "et_layernorm_fwd_f32": lambda n, g, x, gm, bt: layernorm_stats(x, n.attrs["eps"])[0] * gm + bt,
    "et_layernorm_bwd_igrad_f32": lambda n, g, dy, x, gm: layernorm_igrad(n.attrs, dy, x, gm),
    "et_layernorm_bwd_wgrad_f32": lambda n, g, dy, x: layernorm_wgrad(n.attrs, dy, x),
    "et_transpose_fwd_f32": lambda n, g, x: np.ascontiguousarray(np.transpose(x, n.attrs["perm"])),
    "et_reduce_mean_fwd_f32": lambda n, g, x: x.mean(axis=tuple(n.attrs["axes"]),
                                                     keepdims=bool(n.attrs["keepdims"])),
    "et_reduce_mean_bwd_igrad_f32": lambda n, g, dy: _mean_igrad(n.attrs, dy, g[n.attrs["x"]].shape),
    "et_reduce_sum_fwd_f32": lambda n, g, dy: reduce_sum(dy, n.attrs["shape"]),
    "et_concat_fwd_f32": lambda n, g, *v: np.concatenate(v, axis=n.attrs["axis"]),
    "et_slice_fwd_f32": lambda n, g, x: np.ascontiguousarray(slice_fwd(n.attrs, x)),
    "et_slice_bwd_igrad_f32": lambda n, g, dy: slice_igrad(n.attrs, dy, g[n.attrs["x"]].shape),
    "et_softmax_ce_fwd_f32": lambda n, g, y, lab: softmax_ce(y, lab),
    "et_softmax_ce_bwd_igrad_f32": lambda n, g, y, lab: softmax_ce_igrad(y, lab),
    "et_mse_fwd_f32": lambda n, g, y, t: F32(((y - t) ** 2).mean()),
    "et_mse_bwd_igrad_f32": lambda n, g, y, t: F32(2.0 / y.size) * (y - t),
    "et_sgd_step_f32": lambda n, g, *v: sgd(n.attrs, *v),
}


class Reference:
    """Holds the state (parameters, momentum) of a training graph and runs steps on it."""

    def __init__(self, g: Graph):
        self.g = g
        self.state = {t.name: np.array(t.data, dtype=F32) for t in g.tensors.values()
                      if t.kind in ("param", "const", "state")}
        for n in g.nodes:
            if n.kernel and n.kernel not in KERNELS:
                raise CompileError(f"reference has no kernel {n.kernel} (node {n.name})")

    def step(self, x: np.ndarray, y: np.ndarray, keep: bool = False) -> dict:
        """One training step on a batch; returns {'loss', 'grads': {param: grad}, 'env'?}."""
        g = self.g
        env = dict(self.state)
        lab = "labels" if "labels" in g.tensors else "target"
        env[g.inputs[0]] = np.asarray(x, F32).reshape(g[g.inputs[0]].shape)
        env[lab] = np.asarray(y).reshape(g[lab].shape).astype(np.int64 if lab == "labels" else F32)
        for n in g.nodes:
            args = [env[i] for i in n.inputs]
            if n.is_view:
                res = [args[0].reshape(n.attrs["shape"])]
            else:
                out = KERNELS[n.kernel](n, g, *args)
                res = out if isinstance(out, list) else [out]
            for name, val in zip(n.outputs, res):
                val = np.asarray(val, dtype=F32)
                if val.shape != tuple(g[name].shape):
                    raise CompileError(f"reference: {n.name} produced {val.shape} for "
                                       f"'{name}', expected {g[name].shape}")
                env[name] = val
        for k in self.state:
            self.state[k] = env[k]
        res = {"loss": float(env["loss"]),
               "grads": {p: env[d] for p, d in g.meta["grads"].items()}}
        if keep:
            res["env"] = env
        return res

    def params(self) -> dict[str, np.ndarray]:
        return {t.name: self.state[t.name] for t in self.g.params()}
