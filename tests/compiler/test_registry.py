"""The op registry (tools/et/compiler/ops/) is the one place an op is described: every C
function it binds exists in kernels/include, every op the importer takes has its rules, the FLOP
header kbench compiles is the registry's, and no compiler stage outside the registry names an
op's kernels."""
import os
import re
import subprocess
import sys

from et.compiler import ops
from et.compiler.onnx_import import SUPPORTED_OPS
from et.compiler.ops.__main__ import main as flop_header_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPILER = os.path.join(ROOT, "tools", "et", "compiler")


def _declared_c_functions() -> set[str]:
    inc = os.path.join(ROOT, "kernels", "include")
    text = "".join(open(os.path.join(inc, f)).read() for f in os.listdir(inc) if f.endswith(".h"))
    return set(re.findall(r"\b(et_\w+)\s*\(", text))


def test_every_bound_c_function_is_declared():
    declared = _declared_c_functions()
    bound = {(d.name, k, fn) for d in ops.REGISTRY.values() for k, c in d.calls.items() for fn in c.c}
    assert bound
    missing = sorted(b for b in bound if b[2] not in declared)
    assert not missing, f"registry binds C functions no header declares: {missing}"


def test_every_op_has_its_rules():
    for d in ops.REGISTRY.values():
        assert d.infer is not None, d.name
        if d.view or d.fusion_only:
            continue
        assert "fwd" in d.calls, d.name
        for k, c in d.calls.items():
            assert callable(c.ref) and callable(c.flop), (d.name, k)
            # an emitter names the C functions it calls (checked against the headers above)
            assert c.emit is None or c.c, (d.name, k)
        if d.onnx and d.name not in ("reduce_sum",):
            assert d.grad is not None, f"{d.name} is imported but has no gradient rule"
    assert set(ops.onnx_ops()) <= set(SUPPORTED_OPS)


def test_flop_header_is_the_registrys():
    assert flop_header_main(["--check"]) == 0, "run: python -m et.compiler.ops"
    text = open(os.path.join(ROOT, "kernels", "include", "et_flop.h")).read()
    for k, v in ops.flop_table().items():
        assert f"#define ET_FLOP_{k} {v}u" in text


def test_flop_header_check_fails_when_stale(tmp_path, monkeypatch):
    """--check is not a formality: a header that differs is reported (exit 1)."""
    import et.compiler.ops.__main__ as m
    stale = tmp_path / "et_flop.h"
    stale.write_text(m.render().replace("ET_FLOP_MAC 2u", "ET_FLOP_MAC 3u"))
    monkeypatch.setattr(m, "HEADER", str(stale))
    assert m.main(["--check"]) == 1


def test_no_stage_outside_the_registry_names_a_kernel():
    """C kernel names live in ops/ (and the templates' includes): importer, autodiff, reference,
    planner and code generator reach them only through the registry."""
    hits = []
    for f in sorted(os.listdir(COMPILER)):
        if f.endswith(".py"):
            for i, line in enumerate(open(os.path.join(COMPILER, f)), 1):
                if re.search(r"\bet_[a-z0-9]+(_[a-z0-9]+)*_f32\b", line):
                    hits.append(f"{f}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_module_runs_as_a_command():
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools"))
    p = subprocess.run([sys.executable, "-m", "et.compiler.ops", "--check"], env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_readme_lists_exactly_the_supported_ops():
    """The README's 'Supported ONNX ops' paragraph names every op the importer takes, and no
    other (the list follows the registry)."""
    from et.compiler.onnx_import import MS_DOMAIN_OPS

    text = open(os.path.join(ROOT, "README.md")).read()
    para = text[text.index("Supported ONNX ops:"):].split("\n\n", 1)[0]
    listed = set(re.findall(r"`([A-Za-z.]+)`", para))
    want = set(SUPPORTED_OPS) | {f"com.microsoft.{o}" for o in MS_DOMAIN_OPS}
    assert listed == want, (sorted(want - listed), sorted(listed - want))
