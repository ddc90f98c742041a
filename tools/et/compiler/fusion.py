"""Pattern fusion on the imported IR: erf-GELU, decomposed LayerNorm, and linear bias.

- GELU as torch writes it: ``x / sqrt(2) -> Erf -> + 1 -> * x -> * 0.5`` (the 0.5 may also be
  applied to x first); the divisor may appear as a multiplication by 1/sqrt(2).
- LayerNorm decomposed over the last axis: ``m = mean(x); d = x - m; v = mean(d^2);
  y = d / sqrt(v + eps) [* gamma] [+ beta]``.
- ``linear(x, W)`` followed by ``+ b`` with a 1-D parameter b of the output width: the bias
  joins the linear node (one kernel call).
Each fusion only fires when the pattern's intermediate tensors have no other consumers.

Then one rewrite: a division by a constant that no pattern took (an attention score scaled by
``/ math.sqrt(d)``) becomes a multiplication by its reciprocal (rounded once to float32: exact
for powers of two, within one unit in the last place otherwise), which has a kernel.
"""
from __future__ import annotations

import math

import numpy as np

from .ir import Graph, Node, Tensor


def _const_value(g: Graph, name: str) -> float | None:
    t = g.tensors.get(name)
    if t is None or t.kind != "const" or t.size != 1:
        return None
    return float(np.asarray(t.data).reshape(-1)[0])


def _other(node: Node, name: str) -> str | None:
    if len(node.inputs) != 2 or name not in node.inputs:
        return None
    return node.inputs[1] if node.inputs[0] == name else node.inputs[0]


def _sole(cons: dict, name: str, op: str | None = None) -> Node | None:
    users = cons.get(name, [])
    if len(users) != 1 or (op and users[0].op != op):
        return None
    return users[0]


def _replace(g: Graph, dead: list[Node], new: Node) -> None:
    """Put ``new`` where the last of ``dead`` was and drop the others."""
    idx = max(g.nodes.index(n) for n in dead)
    g.nodes[idx] = new
    ids = {id(n) for n in dead}
    g.nodes = [n for n in g.nodes if id(n) not in ids or n is new]


def fuse_gelu(g: Graph) -> int:
    count = 0
    for erf in [n for n in g.nodes if n.op == "erf"]:
        prod, cons = g.producers(), g.consumers()
        pre = prod.get(erf.inputs[0])
        if pre is None or pre.op not in ("div", "mul"):
            continue
        x = pre.inputs[0]
        c = _const_value(g, pre.inputs[1])
        want = math.sqrt(2.0) if pre.op == "div" else 1.0 / math.sqrt(2.0)
        if c is None or abs(c - want) > 1e-5 or _sole(cons, erf.inputs[0]) is not erf:
            continue
        add1 = _sole(cons, erf.outputs[0], "add")
        if add1 is None or _const_value(g, _other(add1, erf.outputs[0]) or "") != 1.0:
            continue
        m = _sole(cons, add1.outputs[0], "mul")
        if m is None:
            continue
        partner = _other(m, add1.outputs[0])
        chain = [pre, erf, add1, m]
        if partner == x:                       # (x * (1 + erf)) * 0.5
            last = _sole(cons, m.outputs[0], "mul")
            if last is None or _const_value(g, _other(last, m.outputs[0]) or "") != 0.5:
                continue
            chain.append(last)
        else:                                  # (x * 0.5) * (1 + erf)
            half = prod.get(partner)
            if half is None or half.op != "mul" or _other(half, x) is None \
                    or _const_value(g, _other(half, x)) != 0.5 or len(cons[partner]) != 1:
                continue
            chain.append(half)
            last = m
        y = chain[-1].outputs[0] if partner == x else m.outputs[0]
        _replace(g, chain, Node("gelu", [x], [y], {}, name=erf.name.replace("Erf", "Gelu"),
                                scope=erf.scope))
        count += 1
    return count


def fuse_layernorm(g: Graph) -> int:
    count = 0
    for div in [n for n in g.nodes if n.op == "div"]:
        prod, cons = g.producers(), g.consumers()
        sub, sq = prod.get(div.inputs[0]), prod.get(div.inputs[1])
        if sub is None or sq is None or sub.op != "sub" or sq.op != "sqrt":
            continue
        x, d = sub.inputs[0], sub.outputs[0]
        mean = prod.get(sub.inputs[1])
        rank = len(g[x].shape)
        if mean is None or mean.op != "reduce_mean" or mean.inputs[0] != x \
                or mean.attrs["axes"] != [rank - 1]:
            continue
        addeps = prod.get(sq.inputs[0])
        if addeps is None or addeps.op != "add":
            continue
        var = prod.get(addeps.inputs[0])
        eps = _const_value(g, addeps.inputs[1])
        if var is None or var.op != "reduce_mean" or eps is None \
                or var.attrs["axes"] != [rank - 1]:
            continue
        pw = prod.get(var.inputs[0])
        if pw is None or pw.op != "pow" or pw.attrs["exponent"] != 2.0 or pw.inputs[0] != d:
            continue
        chain = [mean, sub, pw, var, addeps, sq, div]
        if sorted(id(n) for n in cons.get(d, [])) != sorted([id(pw), id(div)]):
            continue
        if any(len(cons.get(n.outputs[0], [])) != 1 for n in (mean, pw, var, addeps, sq)):
            continue
        dim = g[x].shape[-1]
        y = div.outputs[0]
        gamma = beta = None
        mul = _sole(cons, y, "mul")
        if mul is not None:
            p = _other(mul, y)
            if g[p].kind in ("param", "const") and g[p].shape == (dim,):
                gamma, y = p, mul.outputs[0]
                chain.append(mul)
                add = _sole(g.consumers(), y, "add")
                if add is not None:
                    p = _other(add, y)
                    if g[p].kind in ("param", "const") and g[p].shape == (dim,):
                        beta, y = p, add.outputs[0]
                        chain.append(add)
        if gamma is None:
            gamma = g.fresh(div.name + "_ones")
            g.add_tensor(Tensor(gamma, (dim,), "f32", "const", np.ones(dim, np.float32)))
        if beta is None:
            beta = g.fresh(div.name + "_zeros")
            g.add_tensor(Tensor(beta, (dim,), "f32", "const", np.zeros(dim, np.float32)))
        name = div.scope.replace(".", "/") + "/LayerNorm" if div.scope else div.name + "_ln"
        _replace(g, chain, Node("layernorm", [x, gamma, beta], [y], {"eps": eps, "axis": -1},
                                name=name, scope=div.scope))
        count += 1
    return count


def fuse_linear_bias(g: Graph) -> int:
    count = 0
    for lin in [n for n in g.nodes if n.op == "linear" and not n.attrs.get("bias")]:
        cons = g.consumers()
        add = _sole(cons, lin.outputs[0], "add")
        if add is None:
            continue
        b = _other(add, lin.outputs[0])
        width = g[lin.outputs[0]].shape[-1]
        if b is None or g[b].kind not in ("param", "const") or g[b].size != width \
                or g[b].shape[-1] != width or g[b].shape != (width,):
            continue
        lin.inputs.append(b)
        lin.attrs["bias"] = True
        del g.tensors[lin.outputs[0]]
        lin.outputs = [add.outputs[0]]
        g.nodes.remove(add)
        count += 1
    return count


def div_by_constant(g: Graph) -> int:
    """``x / c`` with a constant ``c`` (no zero in it) -> ``x * (1 / c)``."""
    count = 0
    for n in [n for n in g.nodes if n.op == "div"]:
        c = g.tensors.get(n.inputs[1])
        if c is None or c.kind != "const" or not np.all(np.asarray(c.data) != 0):
            continue
        inv = g.fresh(f"{c.name}_reciprocal")
        data = (1.0 / np.asarray(c.data, np.float64)).astype(np.float32)
        g.add_tensor(Tensor(inv, c.shape, "f32", "const", data))
        n.op, n.inputs = "mul", [n.inputs[0], inv]
        count += 1
    return count


def run_all(g: Graph) -> dict[str, int]:
    """Apply every fusion, then the rewrites; returns how many times each fired."""
    return {"gelu": fuse_gelu(g), "layernorm": fuse_layernorm(g), "linear_bias": fuse_linear_bias(g),
            "div_by_constant": div_by_constant(g)}
