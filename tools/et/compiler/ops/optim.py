"""The optimizer's ops (training.py adds them). sgd, the update of one trained tensor (torch.optim.SGD semantics):
g' = g + wd p; buf = momentum buf + g' (buf starts at 0); p -= lr buf. C ``et_sgd_step_f32``
(kernels/include/et_sgd.h), tiled through L1 by elements; codegen chunks it when the tensor is
streamed from L3. With ``zero_grad`` (gradient accumulation: the gradient is the accumulator, also
an output) ``et_sgd_step_zero_grad_f32`` leaves it zeroed for the next step.
grad_acc, gradient accumulation (PyTorch's ``p.grad += g``): acc = acc + grad, C
``et_add_fwd_f32`` in place on the accumulator. Both are element-wise (``chunked``)."""
from __future__ import annotations

from ..kernelmap import IN, INOUT, CCall, cfloat
import numpy as np

from .base import F32, Call, OpDef, numel

STEP = 2       # FLOP per parameter: p -= lr * d
DECAY = 2      # with weight decay: d = g + wd * p
MOMENTUM = 2   # with momentum: buf = mu * buf + d


def sgd(n, g, p, grad, buf=None):
    a = n.attrs
    d = grad + F32(a["weight_decay"]) * p if a["weight_decay"] else grad
    if buf is not None:
        buf = F32(a["momentum"]) * buf + d
        d = buf
    zero = [np.zeros_like(grad)] if a.get("zero_grad") else []
    return [p - F32(a["lr"]) * d] + ([buf] if buf is not None else []) + zero


def flop(n, g):
    a = n.attrs
    per = STEP + (DECAY if a["weight_decay"] else 0) + (MOMENTUM if a["momentum"] else 0)
    return per * numel(g[n.inputs[0]].shape)


def emit(e, idx, n):
    c = CCall()
    a = n.attrs
    name = f"sgd{idx}"
    c.decls.append(f"static const et_sgd_args {name} = {{.lr = {cfloat(a['lr'])}, .momentum = "
                   f"{cfloat(a['momentum'])}, .weight_decay = {cfloat(a['weight_decay'])}, "
                   ".nesterov = 0};")
    v = e.p(n.inputs[2]) if len(n.inputs) > 2 else "NULL"
    zero = bool(a.get("zero_grad"))
    kernel = "et_sgd_step_zero_grad_f32" if zero else "et_sgd_step_f32"
    e.call(c, kernel, f"&{name}", e.p(n.inputs[0]), e.p(n.inputs[1]), v,
           str(numel(e.shape(n.inputs[0]))))
    # rows of one element
    streams = [(n.inputs[0], 4, INOUT), (n.inputs[1], 4, INOUT if zero else IN)]
    if len(n.inputs) > 2:
        streams.append((n.inputs[2], 4, INOUT))
    e.tiled(c, numel(e.shape(n.inputs[0])), streams,
            [f"&{name}", "@P0@", "@P1@", "@P2@" if len(n.inputs) > 2 else "NULL", "@NR@"])
    return c


def emit_acc(e, idx, n):
    c = CCall()
    size = str(numel(e.shape(n.inputs[0])))
    grad, acc = e.p(n.inputs[0]), e.p(n.inputs[1])
    e.call(c, "et_add_fwd_f32", "ET_BCAST_NONE", grad, acc, acc, "1", size)
    e.tiled(c, numel(e.shape(n.inputs[0])), [(n.inputs[0], 4, IN), (n.inputs[1], 4, INOUT)],
            ["ET_BCAST_NONE", "@P0@", "@P1@", "@P1@", "1", "@NR@"])
    return c


OPS = [OpDef("sgd", lambda n, g: [g[i].shape for i in n.inputs[:1]],
             calls={"fwd": Call(sgd, flop, emit, ("et_sgd_step_f32",
                                                  "et_sgd_step_zero_grad_f32"))}, chunked=True),
       OpDef("grad_acc", lambda n, g: [g[n.inputs[1]].shape],
             calls={"fwd": Call(lambda n, g, grad, acc: acc + grad,
                                lambda n, g: numel(g[n.inputs[0]].shape), emit_acc,
                                ("et_add_fwd_f32",))}, chunked=True)]
FLOP = {"SGD_STEP": STEP, "SGD_DECAY": DECAY, "SGD_MOMENTUM": MOMENTUM}
