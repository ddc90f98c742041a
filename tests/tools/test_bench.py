"""tools/bench.py's arithmetic and document generation, on hand-written device logs with known
answers (the benchmark itself runs in GVSoC or on qemu and is not a test)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))

from et import bench  # noqa: E402
from et.harness import Harness, lines_source  # noqa: E402
from et.report import build_report  # noqa: E402


def _log(cores: int, cycles: int, flop: int, batch: int = 2) -> list[str]:
    lines = [f"@start app=train target=qemu cores={cores} perf=qemu-icount log=1",
             f"@train steps=2 batch={batch}"]
    for core in range(cores):  # core 0 is the slowest: it sets the step's cycles
        c = cycles - 10 * core
        lines.append(f"@perf layer=fc phase=fwd step=1 core={core} cycles={c} instret={c - 5} "
                     f"flop={flop if core == 0 else 0}")
    lines += ["@loss step=1 value=2.5",
              "@dma step=1 l3_l2=1000 l2_l1=5000 l1_l2=2000 other=300 l2_l3=300 "
              "plan_l3_l2=1000 plan_l2_l3=300",
              "@loss step=2 value=1.5",
              "@mem level=L1 cap=262144 static=1000 peak=4096",
              "@mem level=L2 cap=1048576 static=5000 peak=9000",
              "@done code=0"]
    return lines


def _run(cores, cycles, flop, **plan_over):
    res = Harness(echo=False, progress=False).run(lines_source(_log(cores, cycles, flop)))
    assert res.status == "done"
    dma = next(r for r in res.state.of_type("dma")).fields
    memplan = {"arena": {"peak": plan_over.get("arena", 8192), "l3_peak": plan_over.get("l3", 0)},
               "totals": {"L2": {"persistent": 100}, "L3": {"persistent": 200}}}
    return {"report": build_report(res), "dma": {k: int(v) for k, v in dma.items()},
            "memplan": memplan}


def _entry(key, trainable, arena, cyc8, cyc1, flop=7_400_000, error=None, l3=0):
    plan = {"strategy": key, "trainable": trainable, "grad_bytes": 4 * trainable, "fits": True,
            "arena_peak": arena, "l3_arena": l3, "dynamic": arena + l3,
            "flop_fwd": flop, "flop_bwd": 0, "flop_update": 0}
    runs = {} if error else {8: _run(8, cyc8, flop, arena=arena, l3=l3),
                             1: _run(1, cyc1, flop, arena=arena, l3=l3)}
    return {"row": {"key": key, "workload": key.upper(), "paper": "p"}, "plan": plan,
            "runs": runs, "error": error}


def test_figures_follow_the_model():
    f = bench.figures(_entry("cct_lora2", 100, 5000, 1_000_000, 7_500_000), 370.0)
    assert f["cycles"] == 1_000_000                      # the slowest core
    assert f["instr_max"] == 1_000_000 - 5
    assert f["flop_cycle"] == pytest.approx(7.4)
    assert f["img_s"] == pytest.approx(2 * 370e6 / 1e6)   # batch x clock / cycles
    assert f["speedup"] == pytest.approx(7.5)
    assert f["dma_l2_l3"] == 300 and f["dma_l3_l2"] == 1000
    assert f["loss"] == [2.5, 1.5]


def test_lora_ratios():
    data = {"rows": [_entry("cct_lora2", 100, 3000, 1_000_000, 7_000_000),
                     _entry("cct_full", 3000, 6000, 2_000_000, 15_000_000, l3=2000)],
            "steps": 2, "freq_mhz": 370.0, "qemu": "q", "commit": "c",
            "command": "python tools/bench.py --target qemu"}
    doc, block = bench.render({"qemu": data})
    by = {e["row"]["key"]: bench.figures(e, 370.0) for e in data["rows"]}
    (r,) = bench.lora_ratios(by)
    assert r["dyn_mem"] == pytest.approx(3000 / 8000)    # L2 + L3 arenas
    assert r["dyn_l2"] == pytest.approx(0.5)
    assert r["trainable"] == pytest.approx(1 / 30)
    assert r["traffic"] == pytest.approx(1.0)            # same hand-written DMA bytes
    assert "peak dynamic memory (L2 + L3) **0.38** (L2 alone 0.50" in doc
    assert "python tools/bench.py --target qemu" in doc and "| CCT_LORA2 |" in block
    assert "IPC = 1 estimate" in block and "(GVSoC mcycle)" not in block  # never called cycles


def test_gvsoc_section_leads_and_sits_beside_qemu():
    q = {"rows": [_entry("cct_lora2", 100, 3000, 1_000_000, 7_000_000)], "steps": 2,
         "freq_mhz": 370.0, "qemu": "q", "commit": "c"}
    g = {"rows": [_entry("cct_lora2", 100, 3000, 2_500_000, 0)], "steps": 2, "freq_mhz": 370.0,
         "tool": "GVSoC (x)", "commit": "c"}
    g["rows"][0]["runs"].pop(1)
    doc, block = bench.render({"qemu": q, "siracusa": g})
    assert doc.index("Siracusa in GVSoC: measured cycles") < doc.index("qemu: instructions")
    row = next(ln for ln in block.splitlines() if ln.startswith("| CCT_LORA2 |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[3] == "2,500,000" and cells[4] == "2.96"        # GVSoC cycles, FLOP/cycle
    assert cells[6] == "999,995" and cells[7] == "2.50x"          # qemu instr, cycles / IPC=1
    assert "cycles/step (GVSoC mcycle)" in block


def test_row_that_did_not_run_says_why():
    data = {"rows": [_entry("cct_full", 3000, 6000, 0, 0,
                            error="training graph does not fit target qemu: 1311232 | 884736")],
            "steps": 2, "freq_mhz": 370.0, "qemu": "q", "commit": "c"}
    doc, _ = bench.render({"qemu": data})
    row = next(ln for ln in doc.splitlines() if ln.startswith("| CCT_FULL | `cct_full`"))
    assert "not run: training graph does not fit target qemu: 1311232 / 884736" in row


def test_update_readme_replaces_only_the_marked_block(tmp_path):
    p = tmp_path / "README.md"
    p.write_text(f"head\n{bench.README_BEGIN}\nold\n{bench.README_END}\ntail\n")
    assert bench.update_readme(str(p), "new table")
    assert p.read_text() == f"head\n{bench.README_BEGIN}\nnew table\n{bench.README_END}\ntail\n"
    q = tmp_path / "other.md"
    q.write_text("no markers\n")
    assert not bench.update_readme(str(q), "x") and q.read_text() == "no markers\n"


def test_hyperram_bound_layers_are_named():
    from et.report import hyperram_lines

    rep = {"layers": [{"layer": "fc", "phase": "fwd", "cycles": 1000},
                      {"layer": "update/w", "phase": "update", "cycles": 300}],
           "step": {"steps_measured": 1, "cycles_per_step": 1300}}
    plan = {"nodes": [{"layer": "fc", "l3_cycles": 100, "l3_read_bytes": 98, "l3_write_bytes": 0},
                      {"layer": "update/w", "l3_cycles": 400, "l3_read_bytes": 200,
                       "l3_write_bytes": 110}]}
    out = hyperram_lines(rep, plan)
    assert out[0].startswith("HyperRAM: 500 cycles of L3 transfers per step") and "38.5%" in out[0]
    assert out[1:] == ["  HyperRAM-bound: update/w: L3 transfers 400 cycles, layer measured 300 cycles"]
    assert hyperram_lines(rep, {"nodes": [{"layer": "fc"}]}) == []


def test_step_records_of_unprofiled_steps_give_the_step_time():
    lines = _log(8, 1000, 5000)
    lines.insert(-5, "@step step=1 cycles=9999 instret=9000")   # profiled: printing included
    lines.insert(-4, "@step step=2 cycles=1300 instret=1200")
    res = Harness(echo=False, progress=False).run(lines_source(lines))
    st = build_report(res)["step"]
    assert st["cycles_per_step"] == 1300 and st["layers_cycles_per_step"] == 1000
    assert st["outside_layers_cycles"] == 300


def test_cycles_by_op_type():
    """The 8-core run's layers are summed by the op type of their memory-plan node (phase and
    variant where not the forward), most cycles first, then the time between layers; the top
    types are listed and the rest summed."""
    memplan = {"nodes": [
        {"layer": "/q/MatMul", "op": "linear", "phase": "fwd", "variant": ""},
        {"layer": "/k/MatMul", "op": "linear", "phase": "fwd", "variant": ""},
        {"layer": "/q/MatMul/bwd_igrad", "op": "linear", "phase": "bwd", "variant": "igrad"},
        {"layer": "/Reshape", "op": "reshape", "phase": "fwd", "view": True},
        {"layer": "/Gelu", "op": "gelu", "phase": "fwd", "variant": ""}]}
    kinds = bench.op_kinds(memplan)
    assert kinds == {"/q/MatMul": "linear", "/k/MatMul": "linear",
                     "/q/MatMul/bwd_igrad": "linear bwd/igrad", "/Gelu": "gelu"}
    layers = [{"layer": "/q/MatMul", "phase": "fwd", "cycles": 400, "flop": 2400},
              {"layer": "/k/MatMul", "phase": "fwd", "cycles": 400, "flop": 2400},
              {"layer": "/Gelu", "phase": "fwd", "cycles": 100, "flop": 10},
              {"layer": "/q/MatMul/bwd_igrad", "phase": "bwd", "cycles": 500, "flop": 2400}]
    entry = {"runs": {8: {"report": {"layers": layers, "step": {
        "steps_measured": 1, "cycles_per_step": 2000, "outside_layers_cycles": 600}},
        "memplan": {"kinds": kinds}}}}
    rows = bench.op_type_rows(entry)
    assert [(r["kind"], r["layers"], r["cycles"]) for r in rows] == [
        ("linear", 2, 800), ("linear bwd/igrad", 1, 500), ("gelu", 1, 100),
        ("between layers (DMA waits, batch load)", 0, 600)]
    table = bench.op_type_table(entry, top=2).splitlines()
    assert table[2] == "| linear | 2 | 800 | 40.0% | 6.00 |"
    assert table[4] == "| 1 other op types | 1 | 100 | 5.0% | 0.10 |"
    assert table[5] == "| between layers (DMA waits, batch load) | - | 600 | 30.0% | - |"
    assert bench.op_type_table({"runs": {}}) == ""


def test_slim_keeps_rows_of_an_earlier_run():
    """A run of some rows saves them next to the rows kept from the file: slimming again what
    was slimmed before keeps it (older files have no FLOP per layer and no op types)."""
    fresh = _entry("cct_lora2", 100, 3000, 1_000_000, 7_000_000)
    fresh["runs"][8]["memplan"]["nodes"] = [
        {"layer": "fc", "op": "linear", "phase": "fwd", "variant": "", "l3_cycles": 5,
         "l3_read_bytes": 4, "l3_write_bytes": 0, "operands": ["big"]}]
    old = _entry("cct_full", 3000, 6000, 2_000_000, 15_000_000)
    data = bench.slim({"rows": [old]})
    for run in data["rows"][0]["runs"].values():   # as a file of an older version holds them
        run["memplan"].pop("kinds")
        for lay in run["report"]["layers"]:
            lay.pop("flop")
    data["rows"].append(fresh)
    out = bench.slim(bench.slim(data))
    kept, new = (e["runs"][8] for e in out["rows"])
    assert kept["memplan"]["kinds"] == {} and "flop" not in kept["report"]["layers"][0]
    assert new["memplan"]["kinds"] == {"fc": "linear"}
    assert new["memplan"]["nodes"] == [{"layer": "fc", "l3_cycles": 5, "l3_read_bytes": 4,
                                        "l3_write_bytes": 0}]
    assert new["report"]["layers"][0]["flop"] == 7_400_000
