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
        """One training step on a batch; returns {'loss', 'grads': {param: grad}, 'env'?}.
        With gradient accumulation (``g.meta['accumulate']`` N > 1) the batch holds the step's N
        micro-batches one after the other: each runs every node but the updates (the loss is
        their mean; the gradients are the accumulators before the update), then the updates."""
        g = self.g
        env = dict(self.state)
        lab = "labels" if "labels" in g.tensors else "target"
        micro = g.meta.get("accumulate", 1)
        xs = np.split(np.asarray(x, F32).reshape((micro * g[g.inputs[0]].shape[0], -1)), micro)
        ys = np.split(np.asarray(y).reshape((micro * g[lab].shape[0], -1)), micro)
        late = micro > 1      # the updates run once, after the last micro-batch
        updates = [n for n in g.nodes if late and n.phase == "update"]
        passes = [n for n in g.nodes if not (late and n.phase == "update")]
        losses = []
        for xm, ym in zip(xs, ys):
            env[g.inputs[0]] = xm.reshape(g[g.inputs[0]].shape)
            env[lab] = ym.reshape(g[lab].shape).astype(np.int64 if lab == "labels" else F32)
            self._run(passes, env)
            losses.append(env["loss"])
        grads = {p: env[d].copy() for p, d in g.meta["grads"].items()}
        self._run(updates, env)
        for k in self.state:
            self.state[k] = env[k]
        res = {"loss": float(np.mean(np.asarray(losses, F32), dtype=F32)), "grads": grads}
        if keep:
            res["env"] = env
        return res

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> dict:
        """The held-out evaluation the generated program runs (main.c.j2): forward passes in
        batches of the graph's batch (the last filled up from the start, only its new samples
        counted); returns {'n', 'loss' (mean cross-entropy per sample, or MSE per value),
        'correct' (cross-entropy), 'outputs' [n, ...]}. Accumulates in float64 as the C does."""
        g = self.g
        xin = g[g.inputs[0]].shape
        bsz = xin[0]
        x = np.asarray(x, F32).reshape(len(x), -1)
        n = len(x)
        fwd = [nd for nd in g.nodes if nd.phase in ("fwd", "loss")]
        outs = []
        for i0 in range(0, n, bsz):
            env = dict(self.state)
            idx = [(i0 + j) % n for j in range(bsz)]
            env[g.inputs[0]] = x[idx].reshape(xin)
            lab = "labels" if "labels" in g.tensors else "target"
            env[lab] = np.zeros(g[lab].shape, np.int64 if lab == "labels" else F32)
            self._run(fwd, env)
            outs.append(env[g.meta["logits"]].reshape(bsz, -1)[:min(bsz, n - i0)])
        z = np.concatenate(outs).astype(np.float64)
        res = {"n": n, "outputs": z.astype(F32)}
        if g.meta["loss"] == "ce":
            y = np.asarray(y).reshape(-1)
            mx = z.max(axis=1)
            lse = np.log(np.exp(z - mx[:, None]).sum(axis=1)) + mx
            res["loss"] = float(np.mean(lse - z[np.arange(n), y]))
            res["correct"] = int(np.sum(z.argmax(axis=1) == y))
        else:
            res["loss"] = float(np.mean((z - np.asarray(y, np.float64).reshape(n, -1)) ** 2))
        return res

    def _run(self, nodes, env: dict) -> None:
        g = self.g
        for n in nodes:
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

    def params(self) -> dict[str, np.ndarray]:
        return {t.name: self.state[t.name] for t in self.g.params()}
