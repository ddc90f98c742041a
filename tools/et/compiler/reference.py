"""Numpy reference executor of a training graph: forward, loss, backward and SGD, node by node.

It runs exactly the IR's node list, each node with its op's numpy function (the ``ref`` of its
registry entry, ops/), in float32 like the firmware, so it is the oracle the generated C is
compared against; the op modules document each kernel's semantics (layouts, tie-breaking,
what is recomputed).
"""
from __future__ import annotations

import numpy as np

from .ir import CompileError, Graph
from .ops import call_of

F32 = np.float32


class Reference:
    """Holds the state (parameters, momentum) of a training graph and runs steps on it."""

    def __init__(self, g: Graph):
        self.g = g
        self.state = {t.name: np.array(t.data, dtype=F32) for t in g.tensors.values()
                      if t.kind in ("param", "const", "state")}
        for n in g.nodes:
            call_of(n)   # every node's op and call is in the registry

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
                out = call_of(n).ref(n, g, *args)
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
