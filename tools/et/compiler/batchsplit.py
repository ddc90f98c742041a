"""Batch splitting of the stem (GenSpec ``split``, ``--split M|auto``; auto, the default, splits
only a batch that does not fit whole, into the largest micro-batches that fit): the layers
before the first block run on micro-batches of M samples, one copy of them per micro-batch, and their outputs
are concatenated into the whole batch the blocks train on.

Why: a CNN stem's activations are the largest of the step and grow with the batch (CCT-2's
first convolution writes 256 KiB per image: a batch of 4 needs 1 MiB for it alone), while the
blocks' are small. Split, only one micro-batch's stem activations are live at a time where the
stem saves nothing for the backward pass (LoRA, last layers, blocks:K); with full backprop the
copies' saved activations are recomputed one micro-batch at a time (``recompute`` ``stem``,
one segment per copy). The weights are read by every copy and their gradients summed over the
copies (autodiff), so the step is the same as without splitting.

A layer can be split if it treats axis 0 as the batch: every activation it reads or writes has
the batch as its first axis, and no attribute names axis 0 (a transpose keeps it first, a
concat, slice, softmax or reduction works on other axes). The stem is split up to its first
layer that cannot be (BatchNorm with batch statistics, for one); nothing is split when that is
the first layer.
"""
from __future__ import annotations

from .ir import CompileError, Graph, Node, Tensor

PER_SAMPLE = ("conv2d", "dwconv2d", "maxpool2d", "relu", "gelu", "erf", "pow", "sqrt", "add",
              "sub", "mul", "div", "layernorm", "linear", "matmul", "reshape", "transpose",
              "softmax", "reduce_mean", "reduce_sum", "concat", "slice")
PERSISTENT = ("param", "const", "state")


def check_split(micro, batch: int) -> int | str:
    """The split size, or CompileError: 0 (off), ``auto`` or a divisor of the batch."""
    if micro == "auto":
        return micro
    if isinstance(micro, bool) or not isinstance(micro, int) or micro < 0 or \
            (micro and batch % micro):
        raise CompileError(f"split {micro!r}: expected 0 (off), auto or a number of samples "
                           f"that divides the batch ({batch}) (--split)")
    return micro


def split_choices(split, batch: int) -> list[int]:
    """The split sizes to plan, in order: the one asked, or for ``auto`` none (the whole
    batch), then every divisor of the batch from the largest (the first plan that fits wins)."""
    if check_split(split, batch) != "auto":
        return [split]
    return [0] + [m for m in range(batch - 1, 0, -1) if batch % m == 0]


def choose(split, batch: int, recompute: str, build):
    """The (graph, plan) for the split and recompute choices: ``build(recompute_choice,
    split) -> (graph, plan)`` (planned with strict=False); with split ``auto`` the first of
    split_choices whose plan fits (else the whole batch's, whose error says why)."""
    from .recompute import choose as choose_recompute
    splits = split_choices(split, batch)
    first = None
    for sp in splits:
        try:
            g, plan = choose_recompute(recompute, lambda c: build(c, sp))
        except CompileError:
            if sp == splits[0]:
                raise
            break       # no stem to split
        first = first or (g, plan)
        if plan.fits:
            return g, plan
    return first


def _per_sample(g: Graph, n: Node, batch: int) -> bool:
    if n.op not in PER_SAMPLE or n.phase != "fwd":
        return False
    acts = [t for t in n.inputs + n.outputs if g[t].kind not in PERSISTENT]
    if not acts or any(len(g[t].shape) < 2 or g[t].shape[0] != batch for t in acts):
        return False
    rank = len(g[n.outputs[0]].shape)
    a = n.attrs
    if "perm" in a and list(a["perm"])[0] != 0:
        return False
    if "axis" in a and a["axis"] % max(rank, len(g[n.inputs[0]].shape)) == 0:
        return False
    if "axes" in a and any(x % len(g[n.inputs[0]].shape) == 0 for x in a["axes"]):
        return False
    return True


def stem_prefix(g: Graph, block_nodes: list[list[Node]]) -> list[Node]:
    """The forward nodes before the first block that can be split, in order (may be empty)."""
    if not block_nodes:
        return []
    first = min(g.nodes.index(n) for n in block_nodes[0])
    batch = g[g.inputs[0]].shape[0]
    out = []
    for n in g.nodes[:first]:
        if n.phase != "fwd":
            continue
        if not _per_sample(g, n, batch):
            break
        out.append(n)
    return out


def split_stem(g: Graph, micro: int, block_nodes: list[list[Node]]) -> dict:
    """Rewrite the forward graph ``g`` (before the loss and autodiff) so that its stem runs on
    micro-batches of ``micro`` samples; returns {'micro', 'copies', 'nodes'} and records the
    copies' nodes in ``g.meta['stem_copies']`` (recompute.py's per-copy segments)."""
    batch = g[g.inputs[0]].shape[0]
    info = {"micro": micro, "copies": 0, "nodes": 0}
    g.meta["split"] = info
    if check_split(micro, batch) == 0 or micro >= batch:
        return info
    stem = stem_prefix(g, block_nodes)
    if not stem:
        raise CompileError(f"split {micro}: the model has no stem to split (no layer before its "
                           "first block that treats axis 0 as the batch)")
    made = {o for n in stem for o in n.outputs}
    after = g.nodes[g.nodes.index(stem[-1]) + 1:]
    crossing = [t for t in dict.fromkeys(i for n in after for i in n.inputs) if t in made]
    crossing += [t for t in g.outputs if t in made and t not in crossing]
    outside = [t for t in dict.fromkeys(i for n in stem for i in n.inputs)
               if t not in made and g[t].kind not in PERSISTENT]
    new_nodes, copies = [], []
    parts: dict[str, list[str]] = {t: [] for t in crossing}
    for c in range(batch // micro):
        rename, nodes = {}, []
        for t in outside:      # the graph's input (or an earlier activation): this micro-batch
            name = g.fresh(f"{t}/split{c}")
            g.add_tensor(Tensor(name, (micro,) + tuple(g[t].shape[1:]), g[t].dtype, "act"))
            nodes.append(Node("slice", [t], [name], {"axes": [0], "starts": [c * micro],
                                                      "ends": [(c + 1) * micro]},
                              name=f"split{c}/{t}", scope=""))
            rename[t] = name
        for n in stem:
            attrs = dict(n.attrs)
            if n.op == "reshape":
                attrs["shape"] = [micro] + list(attrs["shape"])[1:]
            nodes.append(g.clone(n, f"/split{c}", rename, first_dim=micro, attrs=attrs))
        for t in crossing:
            parts[t].append(rename[t])
        copies.append(nodes)
        new_nodes += nodes
    joins = [Node("concat", parts[t], [t], {"axis": 0}, name=f"split/concat/{t}")
             for t in crossing]
    at = g.nodes.index(stem[0])
    for n in stem:
        g.nodes.remove(n)
    g.nodes[at:at] = new_nodes + joins
    for n in stem:
        for o in n.outputs:
            if o not in crossing:
                del g.tensors[o]
    info.update(copies=len(copies), nodes=len(new_nodes) + len(joins))
    g.meta["stem_copies"] = copies
    return info
