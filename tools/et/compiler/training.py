"""Training graph: strategy -> trainable set (and LoRA adapters), loss, backward, SGD update.

Strategies (``--train``):
- ``last``: the classifier only (weight and bias of the last layer with parameters);
- ``blocks:K[,of=PREFIX]``: the last K blocks plus the head (every parameterized layer after
  the last block); blocks are the repeated subgraphs between the stem and the head, or the
  module list ``PREFIX.<i>`` the user names (``structure.find_blocks``);
- ``lora:r=R[,alpha=A][,targets=q,k,v,o][,blocks=K][,head=0|1][,of=PREFIX]``: rank-R adapters
  on the linear layers of the last K blocks (default: all) whose role in the attention
  (``structure.projection_roles``: q, k, v, o, a packed qkv, mlp) or module name is one of
  ``targets`` (default q,k,v,o): y = x W + b + (alpha/R) (x A) B with A [in, R] ~ U(-1/sqrt(in),
  1/sqrt(in)) (fixed seed) and B [R, out] = 0. Alpha defaults to R (scale 1, no scaling
  node). Adapters and, with head=1 (default), the classifier train; the rest is frozen;
- ``all``: every parameter;
- ``exported``: what an imported training graph's optimizer updated (ONNX Runtime training
  artifacts, Deeploy's CCT training graphs; ``onnx_import.forward_of_training_graph``);
- a comma-separated list of initializer names.
Loss: mean softmax cross-entropy over the batch (integer ``labels``) or mean squared error over
all elements (``target``). Update: SGD as torch.optim.SGD (momentum buffer, decoupled=False
weight decay, no dampening, no Nesterov), in place.

Gradient accumulation (``accumulate`` N > 1): one step runs the forward and backward passes on N
micro-batches and updates once, as ``(loss / N).backward()`` N times and one ``optimizer.step()``
with ``zero_grad()`` after it in PyTorch: the loss gradient is seeded with 1/N, every trained
tensor gets an accumulator (state ``<p>.grad_acc``, zero at start) that a grad_acc node right
after its gradient's last producer sums into, and the SGD nodes run once per step at the end on the
accumulators, which they leave zeroed. Without batch statistics (BatchNorm in training mode
normalizes each micro-batch by its own) the step equals one step on the N micro-batches as one
batch, while the activations stay those of one micro-batch.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .autodiff import Differ
from .ir import CompileError, Graph, Node, StrategyError, Tensor
from .ops import flops
from .structure import Block, find_blocks, projection_roles

STRATEGY_HELP = ("last | blocks:K[,of=PREFIX] | lora:r=R[,alpha=A][,targets=q,k,v,o]"
                 "[,blocks=K][,head=0|1][,of=PREFIX] | all | exported | NAME[,NAME...]")


@dataclass
class Hyper:
    """Optimizer settings baked into the update nodes."""
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0

    def check(self) -> None:
        """Raise CompileError unless the SGD kernel can use the values as fp32: lr > 0,
        momentum in [0, 1) (1 or more never forgets a step), weight decay >= 0, all finite."""
        rules = (("learning rate", "--lr", self.lr, lambda f: f > 0,
                  "a finite number > 0 that fp32 holds (1e-38 .. 3e38)"),
                 ("momentum", "--momentum", self.momentum, lambda f: 0 <= f < 1,
                  "a number in [0, 1)"),
                 ("weight decay", "--weight-decay", self.weight_decay, lambda f: f >= 0,
                  "a finite number >= 0 that fp32 holds"))
        for what, opt, v, ok, want in rules:
            with np.errstate(over="ignore"):
                f = np.float32(v) if isinstance(v, (int, float)) else np.float32("nan")
            if not (np.isfinite(f) and ok(f) and (f != 0 or v == 0)):
                raise CompileError(f"{what} ({opt}) {v!r}: expected {want}")


@dataclass
class Strategy:
    """A parsed ``--train`` value."""
    kind: str
    text: str
    k: int = 0
    names: list[str] = field(default_factory=list)
    rank: int = 0
    alpha: float = 0.0
    targets: list[str] = field(default_factory=lambda: ["q", "k", "v", "o"])
    head: bool = True
    of: str = ""      # the blocks' module list, named by the user (structure.find_blocks)


def parse_strategy(text: str) -> Strategy:
    t = text.strip()
    if t in ("last", "all", "exported"):
        return Strategy(t, t)
    if t.startswith("blocks:"):
        k, _, of = t.split(":", 1)[1].partition(",")
        if of and not (of.startswith("of=") and len(of) > 3):
            raise StrategyError(f"bad option '{of}' in '{t}': expected blocks:K[,of=PREFIX]")
        try:
            return Strategy("blocks", t, k=int(k), of=of[3:])
        except ValueError:
            raise StrategyError(f"bad strategy '{t}': expected blocks:K with an integer K "
                                f"(strategies: {STRATEGY_HELP})") from None
    if t.startswith("lora:") or t == "lora":
        s = Strategy("lora", t, rank=4, k=-1)
        key = None
        targets: list[str] = []
        for tok in [x for x in t[5:].split(",") if x]:
            if "=" in tok:
                key, val = tok.split("=", 1)
            elif key == "targets":
                val = tok
            else:
                raise StrategyError(f"bad LoRA option '{tok}' in '{t}' ({STRATEGY_HELP})")
            try:
                if key == "r":
                    s.rank = int(val)
                elif key == "alpha":
                    s.alpha = float(val)
                elif key == "targets":
                    targets.append(val)
                elif key == "blocks":
                    s.k = int(val)
                elif key == "head":
                    s.head = bool(int(val))
                elif key == "of":
                    s.of = val
                else:
                    raise StrategyError(f"unknown LoRA option '{key}' in '{t}' "
                                        "(options: r, alpha, targets, blocks, head, of)")
            except ValueError:
                raise StrategyError(f"bad value '{val}' for LoRA option '{key}'") from None
        if targets:
            s.targets = targets
        if s.rank < 1:
            raise StrategyError(f"LoRA rank must be >= 1 in '{t}'")
        s.alpha = s.alpha or float(s.rank)
        return s
    return Strategy("names", t, names=[x.strip() for x in t.split(",") if x.strip()])


def _param_nodes(g: Graph) -> list[Node]:
    return [n for n in g.nodes if any(g[i].kind == "param" for i in n.inputs)]


def last_params(g: Graph) -> list[str]:
    nodes = _param_nodes(g)
    if not nodes:
        raise StrategyError("the model has no parameters")
    return [i for i in nodes[-1].inputs if g[i].kind == "param"]


def head_params(g: Graph, blocks: list[Block]) -> list[str]:
    """Parameters of the layers after the last node of the last block."""
    last = max(blocks[-1].nodes)
    return [i for n in g.nodes[last + 1:] for i in n.inputs if g[i].kind == "param"]


def _no_blocks(what: str) -> StrategyError:
    return StrategyError(f"{what} needs a model with blocks (a subgraph repeated two or more "
                         "times, or a module list '<name>.<index>'); none found: name them "
                         "with of=PREFIX")


def lora_targets(g: Graph, s: Strategy, chosen: list[Block]) -> list[tuple[Node, str]]:
    """The linear layers of the chosen blocks whose role (``structure.projection_roles``: q,
    k, v, o, qkv, mlp; a packed qkv matches any of q, k, v) or module name is a target."""
    hits, valid = [], set()
    for b in chosen:
        for k, role in projection_roles(g, b.nodes).items():
            n = g.nodes[k]
            module = n.scope.rsplit(".", 1)[-1]
            valid.update({role, module} - {""})
            want = set(s.targets)
            if role in want or (role == "qkv" and want & {"q", "k", "v"}) or module in want:
                hits.append((n, role))
    if not hits:
        raise StrategyError(f"LoRA targets {s.targets} match no linear layer in "
                            f"{', '.join(b.name for b in chosen)}; valid targets: "
                            f"{', '.join(sorted(valid)) or '(none)'}")
    return hits


def insert_lora(g: Graph, s: Strategy, blocks: list[Block], seed: int = 0) -> list[str]:
    """Insert adapters on the matching linear layers; returns the adapters' parameter names."""
    rng = np.random.default_rng(seed)
    chosen = blocks if s.k < 0 else blocks[len(blocks) - s.k:]
    names = []
    hits = lora_targets(g, s, chosen)
    shared = Counter(n.scope for n, _ in hits)
    for n, role in hits:
        x, y = n.inputs[0], n.outputs[0]
        kin = g[x].shape[-1]
        nout = g[y].shape[-1]
        # named after the layer's module; by role too where one module holds several
        # (nn.MultiheadAttention's in_proj and out_proj)
        base = n.scope or n.name.strip("/").replace("/", ".")
        if shared[n.scope] > 1:
            base = f"{base}.{role}"
        a_name, b_name = g.fresh(f"{base}.lora_A"), g.fresh(f"{base}.lora_B")
        bound = 1.0 / np.sqrt(kin)
        g.add_tensor(Tensor(a_name, (kin, s.rank), "f32", "param",
                            rng.uniform(-bound, bound, (kin, s.rank)).astype(np.float32),
                            scope=n.scope))
        g.add_tensor(Tensor(b_name, (s.rank, nout), "f32", "param",
                            np.zeros((s.rank, nout), np.float32), scope=n.scope))
        base = g.fresh(y + "_base")
        g.add_tensor(Tensor(base, g[y].shape, "f32", "act"))
        n.outputs = [base]
        t1 = g.fresh(f"{n.scope}.lora_xa")
        g.add_tensor(Tensor(t1, g[y].shape[:-1] + (s.rank,), "f32", "act"))
        t2 = g.fresh(f"{n.scope}.lora_xab")
        g.add_tensor(Tensor(t2, g[y].shape, "f32", "act"))
        at = g.nodes.index(n) + 1
        new = [Node("linear", [x, a_name], [t1], {"trans_w": 0, "bias": False},
                    name=f"{n.name}/lora_A", scope=n.scope),
               Node("linear", [t1, b_name], [t2], {"trans_w": 0, "bias": False},
                    name=f"{n.name}/lora_B", scope=n.scope)]
        last = t2
        scale = s.alpha / s.rank
        if scale != 1.0:
            c = g.fresh(f"{n.scope}.lora_scale")
            g.add_tensor(Tensor(c, (), "f32", "const", np.asarray(scale, np.float32)))
            t3 = g.fresh(f"{n.scope}.lora_scaled")
            g.add_tensor(Tensor(t3, g[y].shape, "f32", "act"))
            new.append(Node("mul", [t2, c], [t3], {}, name=f"{n.name}/lora_scale", scope=n.scope))
            last = t3
        new.append(Node("add", [base, last], [y], {}, name=f"{n.name}/lora_add", scope=n.scope))
        g.nodes[at:at] = new
        names += [a_name, b_name]
        # what onnxexport needs to merge the adapter into its layer or add it as nodes
        g.meta.setdefault("lora", []).append(
            {"A": a_name, "B": b_name, "weight": n.inputs[1], "trans_w": int(n.attrs.get("trans_w", 0)),
             "scale": float(scale), "x": x, "y": y, "layer": n.name})
    return names


def select_trainable(g: Graph, s: Strategy) -> list[str]:
    """Mark the strategy's parameters trainable (inserting LoRA adapters first); returns them."""
    blocks = find_blocks(g, s.of) if s.kind in ("blocks", "lora") else []
    params = [p.name for p in g.params()]
    if s.kind == "all":
        names = params
    elif s.kind == "last":
        names = last_params(g)
    elif s.kind == "exported":
        names = g.meta.get("exported", {}).get("trainable", [])
        if not names:
            raise StrategyError("strategy 'exported' needs a training graph (forward, loss, "
                                "gradients and optimizer updates); this model is a forward graph")
        lost = [n for n in names if n not in g.tensors or g[n].kind != "param"]
        if lost:
            raise StrategyError(f"the training graph updates {', '.join(lost)}, which its "
                                "forward pass does not use as a parameter")
    elif s.kind == "blocks":
        if not blocks:
            raise _no_blocks("strategy blocks:K")
        if not 1 <= s.k <= len(blocks):
            raise StrategyError(f"blocks:{s.k}: the model has {len(blocks)} blocks "
                                f"({', '.join(b.name for b in blocks)}); K must be "
                                f"1..{len(blocks)}")
        names = [p for b in blocks[len(blocks) - s.k:] for p in b.params] + \
            head_params(g, blocks)
    elif s.kind == "lora":
        if not blocks:
            raise _no_blocks("LoRA")
        if not (s.k == -1 or 1 <= s.k <= len(blocks)):
            raise StrategyError(f"lora blocks={s.k}: the model has {len(blocks)} blocks")
        names = insert_lora(g, s, blocks)
        if s.head:
            names += last_params(g)
    else:
        unknown = [n for n in s.names if n not in g.tensors or g[n].kind != "param"]
        if unknown:
            raise StrategyError(f"unknown initializer(s) {', '.join(unknown)} in --train; "
                                f"valid names: {', '.join(sorted(params))}; "
                                f"or a strategy: {STRATEGY_HELP}")
        names = s.names
    names = list(dict.fromkeys(names))
    for n in names:
        g[n].trainable = True
    return names


def check_accumulate(n) -> int:
    """The micro-batches per step, or CompileError: an integer >= 1."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n < 1 << 16:
        raise CompileError(f"accumulate {n!r}: expected the number of micro-batches per step, "
                           "an integer in 1 .. 65535 (--accumulate)")
    return n


def build_training_graph(g: Graph, strategy: str, loss: str = "ce",
                         hyper: Hyper | None = None, accumulate: int = 1,
                         split: int = 0) -> Graph:
    """Turn an imported forward graph into one training step (in place; returns ``g``); with
    ``accumulate`` N > 1, the micro-batch pass and the once-per-step update of gradient
    accumulation (module docstring); with ``split`` M, the stem on micro-batches of M samples
    (batchsplit.py). ``g.meta['block_nodes']``: the blocks' forward nodes (recompute.py)."""
    from .batchsplit import split_stem
    hyper = hyper or Hyper()
    hyper.check()
    accumulate = check_accumulate(accumulate)
    s = parse_strategy(strategy)
    try:
        g.meta["block_nodes"] = [[g.nodes[k] for k in b.nodes] for b in find_blocks(g, s.of)]
    except StrategyError:        # of=PREFIX naming nothing: select_trainable says so
        g.meta["block_nodes"] = []
    trainable = select_trainable(g, s)
    split_stem(g, split, g.meta["block_nodes"])
    out = g.outputs[0]
    batch = g[g.inputs[0]].shape[0]
    if loss == "ce":
        if len(g[out].shape) != 2:
            raise StrategyError(f"cross-entropy needs [batch, classes] logits; output "
                                f"'{out}' is {list(g[out].shape)}")
        lab = g.add_tensor(Tensor("labels", (batch,), "i32", "input"))
    elif loss == "mse":
        lab = g.add_tensor(Tensor("target", g[out].shape, "f32", "input"))
    else:
        raise StrategyError(f"unknown loss '{loss}' (ce, mse)")
    g.inputs.append(lab.name)
    op = "softmax_ce" if loss == "ce" else "mse"
    g.add_tensor(Tensor("loss", (), "f32", "loss"))
    fwd = [n for n in g.nodes]
    g.add_node(Node(op, [out, lab.name], ["loss"], {}, name="loss", phase="loss"))
    # tensors that depend on a trainable parameter
    needs = set(trainable)
    for n in fwd:
        if any(i in needs for i in n.inputs):
            needs.update(n.outputs)
    if out not in needs:
        raise StrategyError(f"strategy '{strategy}': the output does not depend on "
                            "any trainable parameter")
    dout = g.fresh(f"d[{out}]")
    g.add_tensor(Tensor(dout, g[out].shape, "f32", "grad", grad_of=out))
    # the gradient of the mean loss over the step's N micro-batches
    g.add_node(Node(op, [out, lab.name], [dout], {"dloss": 1.0 / accumulate}, name="loss/bwd",
                    phase="bwd", variant="igrad"))
    grads = Differ(g, needs).run(fwd, {out: dout})
    acc = {}
    for p in trainable:
        if p not in grads:
            raise StrategyError(f"parameter '{p}' does not influence the loss")
        if accumulate > 1:
            acc[p] = g.add_tensor(Tensor(g.fresh(f"{p}.grad_acc"), g[p].shape, "f32", "state",
                                         np.zeros(g[p].shape, np.float32), scope=g[p].scope)).name
            g.add_node(Node("grad_acc", [grads[p], acc[p]], [acc[p]], {},
                            name=f"accumulate/{p}", phase="bwd", scope=g[p].scope))
    for p in trainable:
        ins = [p, acc.get(p, grads[p])]
        outs = [p]
        if hyper.momentum:
            buf = g.add_tensor(Tensor(f"{p}.momentum", g[p].shape, "f32", "state",
                                      np.zeros(g[p].shape, np.float32), scope=g[p].scope))
            ins.append(buf.name)
            outs.append(buf.name)
        if p in acc:
            outs.append(acc[p])     # left zeroed for the next step
        g.add_node(Node("sgd", ins, outs, {"lr": hyper.lr, "momentum": hyper.momentum,
                                           "weight_decay": hyper.weight_decay,
                                           "zero_grad": int(p in acc)},
                        name=f"update/{p}", phase="update", scope=g[p].scope))
    g.outputs = ["loss"]
    g.meta.update(strategy=strategy, loss=loss, trainable=trainable, hyper=hyper,
                  grads={p: acc.get(p, grads[p]) for p in trainable}, logits=out,
                  accumulate=accumulate)
    return g


def schedule_updates_early(g: Graph) -> None:
    """Move every SGD node right after the last other node touching its parameter or gradient:
    the "update as soon as the gradient is complete" schedule. The math is unchanged (nothing
    reads a parameter after its update), the reference runs the same order, and gradients no
    longer all live until the end of the step, which is what lets full backprop fit in L2.
    With gradient accumulation the updates wait for the last micro-batch (they stay at the
    end, net_update) and the accumulating adds move early instead."""
    acc = g.meta.get("accumulate", 1) > 1
    early = (lambda n: n.op == "grad_acc") if acc else \
        (lambda n: n.phase == "update")
    ups = [n for n in g.nodes if early(n)]
    rest = [n for n in g.nodes if not early(n)]
    for u in ups:
        touched = set(u.inputs)
        pos = max((k for k, n in enumerate(rest) if touched & (set(n.inputs) | set(n.outputs))
                   and not (acc and n.phase == "update")), default=len(rest) - 1)
        rest.insert(pos + 1, u)
    g.nodes = rest


def training_program(g: Graph, strategy: str, loss: str, hyper: Hyper,
                     accumulate: int = 1, recompute: str = "off", split: int = 0) -> Graph:
    """The training step the code generator and the planner both start from: the training
    graph, refused here when a node has no C kernel (so ``plan`` and ``train`` say the same),
    with the recomputation ``recompute`` names (recompute.py; not ``auto``, which the code
    generator resolves by planning) and its updates scheduled early."""
    from .ops import check_kernels
    from .recompute import recompute as add_recomputation
    build_training_graph(g, strategy, loss, hyper, accumulate, split)
    check_kernels(g)
    add_recomputation(g, recompute)
    schedule_updates_early(g)
    return g


def stats(g: Graph) -> dict:
    """FLOP per phase, trainable parameters and gradient bytes of a training graph."""
    f = Counter()
    for n in g.nodes:
        f[n.phase] += flops(n, g)
        if n.attrs.get("recompute"):
            f["recompute"] += flops(n, g)
    tr = g.trainable()
    return {"strategy": g.meta.get("strategy", "?"), "flop_fwd": f["fwd"] + f["loss"],
            "flop_recompute": f["recompute"],   # part of flop_bwd
            "flop_bwd": f["bwd"], "flop_update": f["update"],
            "trainable": sum(t.size for t in tr), "grad_bytes": sum(t.nbytes for t in tr),
            "params": sum(t.size for t in g.params()), "kernel_calls":
            sum(1 for n in g.nodes if not n.is_view)}
