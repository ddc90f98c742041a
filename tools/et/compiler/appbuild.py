"""Build-time glue: an app's SConscript runs the code generator and compiles what it wrote.

``generated_objects(env, build, **defaults)`` generates the training program of the app's
committed model.onnx + data.npz (with the GenSpec fields of the app's ``train.json``, if any,
then ``defaults``) into ``build/<target>/<app>/gen/`` (for the build's target,
with its l1/l2/l3 overrides) and returns the objects. A spec file named by the environment
variable ``ET_TRAIN_SPEC`` (JSON of GenSpec fields, written by ``edgetune.py train``) replaces
the defaults; then the generated sources go to ``gen_<hash>/``. A compile error (unsupported
op, a plan that does not fit) stops the build with the compiler's message.
"""
from __future__ import annotations

import json
import os
import sys

from .codegen import GenSpec, generate
from .ir import CompileError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def app_settings(app_dir: str) -> dict:
    """The GenSpec fields of an app's ``train.json`` (keys starting with '_' are comments)."""
    path = os.path.join(app_dir, "train.json")
    if not os.path.exists(path):
        return {}
    return {k: v for k, v in read_spec_json(path, "app settings").items() if not k.startswith("_")}


def read_spec_json(path: str, what: str) -> dict:
    """A JSON object of GenSpec fields; a file that is not one is a CompileError naming it and
    the valid fields."""
    from dataclasses import fields
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        raise CompileError(f"{what} {path}: not a readable JSON file ({e})") from None
    if not isinstance(d, dict):
        raise CompileError(f"{what} {path}: expected a JSON object of settings, got "
                           f"{type(d).__name__}")
    valid = {f.name for f in fields(GenSpec)}
    bad = sorted(k for k in d if not k.startswith("_") and k not in valid)
    if bad:
        raise CompileError(f"{what} {path}: unknown setting(s) {', '.join(bad)}; valid: "
                           f"{', '.join(sorted(valid))}")
    return d


def app_spec(app: str, **overrides) -> GenSpec:
    """The GenSpec an app builds with (train.json), with overrides (e.g. steps=10)."""
    app_dir = os.path.join(ROOT, "apps", app)
    return GenSpec(model=os.path.join(app_dir, "model.onnx"), data=os.path.join(app_dir, "data.npz"),
                   **dict(app_settings(app_dir), **overrides))


def spec_for(build, app_dir: str, **defaults) -> tuple[GenSpec, str]:
    """The GenSpec of this build and the folder (relative to the root) to generate into."""
    path = os.environ.get("ET_TRAIN_SPEC", "")
    if path and app_dir.endswith(os.path.join("apps", "train")):
        spec = GenSpec(**read_spec_json(path, "training spec (ET_TRAIN_SPEC)"))
        sub = f"gen_{spec.key()}"
    elif app_dir.endswith(os.path.join("apps", "train")):
        raise CompileError("app 'train' is driven by `edgetune.py train` (ET_TRAIN_SPEC unset)")
    else:
        spec = GenSpec(model=os.path.join(app_dir, "model.onnx"),
                       data=os.path.join(app_dir, "data.npz"),
                       **dict(app_settings(app_dir), **defaults))
        sub = "gen"
    spec.target = build.target.name
    spec.capacities = dict(build.target.capacities)
    return spec, os.path.join(build.build_dir, sub)


def hyperram_note(target, traffic: dict) -> str:
    """', HyperRAM N cycles/step' at the target's measured L3 bandwidth ('' where it is free)."""
    bw_r, bw_w = target.l3_bytes_per_cycle
    if not bw_r or not (traffic.get("l3_to_l2") or traffic.get("l2_to_l3")):
        return ""
    cyc = traffic.get("l3_to_l2", 0) / bw_r + traffic.get("l2_to_l3", 0) / bw_w
    return (f", HyperRAM {cyc:,.0f} cycles/step at {bw_r}/{bw_w} B/cycle (memplan.json: per node; "
            "the run report names the layers it limits)")


def generated_objects(env, build, **defaults) -> list:
    """Generate (at SConscript read time) and declare the objects of the generated sources."""
    app_dir = os.path.join(ROOT, "apps", build.app)
    try:
        spec, gen = spec_for(build, app_dir, **defaults)
        info = generate(spec, os.path.join(ROOT, gen))
    except (CompileError, OSError, ValueError) as e:
        print(f"scons: *** {build.app}: code generation failed: {e}", file=sys.stderr)
        env.Exit(2)
    import shutil

    from .codegen import LINK_SAMPLES
    for name in ("memplan.json", "meta.json"):   # the run's report and adapted model read them
        shutil.copyfile(os.path.join(ROOT, gen, name), os.path.join(ROOT, build.build_dir, name))
    link = os.path.join(ROOT, build.build_dir, LINK_SAMPLES)   # the run's sample server reads it
    if os.path.exists(os.path.join(ROOT, gen, LINK_SAMPLES)):
        shutil.copyfile(os.path.join(ROOT, gen, LINK_SAMPLES), link)
    elif os.path.exists(link):
        os.remove(link)
    s = info["stats"]
    print(f"  GEN   {gen}: {spec.strategy}, batch {spec.batch}, {spec.steps} steps, "
          f"{s['trainable']} trainable, FLOP fwd {s['flop_fwd']} bwd {s['flop_bwd']}, "
          f"arena {info['arena']} B, weights L2 {info['level_bytes'].get('L2', 0)} B "
          f"L3 {info['level_bytes'].get('L3', 0)} B, L3 streaming "
          f"{'on' if info['stream_l3'] else 'off'} ({info['traffic']['l3_to_l2']} B L3->L2 per step)"
          + hyperram_note(build.target, info["traffic"]))
    objs = []
    for src in ("net.c", "weights.c", "main.c"):
        objs.append(env.Object(target="#" + os.path.join(gen, "obj", src[:-2] + ".o"),
                               source="#" + os.path.join(gen, src),
                               CPPPATH=env["CPPPATH"] + ["#" + gen]))
    return objs
