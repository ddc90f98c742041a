"""Parser of the device log format (docs/devlog.md): ``@<type> key=value ...`` records.

Lines that are not records are free text and ignored. Format 2 seals every record with
`` q=<seq> c=<crc32>``: ``unseal`` checks it, so a record a noisy link changed is refused and
a gap in the sequence numbers shows the records that were lost. ``LogState`` follows a run line
by line, knows whether it has started, ended (``@done``) or crashed (``@fault``), and keeps its
memory bounded whatever the log's length: ``@perf`` records are summed as they arrive
(``PerfTotals``) and only the first records of each type are kept.
"""
from __future__ import annotations

import re
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field

RECORD_TYPES = ("start", "perf", "loss", "mem", "result", "done", "fault", "bench", "train",
                "step")
_RECORD_RE = re.compile(r"^\s*@(?P<type>[a-z]+)(?P<fields>(?:[ \t]+[a-z0-9_]+=\S+)*)[ \t]*\r?$")
_FIELD_RE = re.compile(r"([a-z0-9_]+)=(\S+)")


@dataclass
class Record:
    """One parsed record: its type and its fields as strings (use ``int``/``float`` to convert).

    ``seq``: its sequence number (format 2, the seal's ``q``; the seal's fields are not in
    ``fields``), None for an unsealed record."""

    type: str
    fields: dict[str, str]
    seq: int | None = None

    def __getitem__(self, key: str) -> str:
        return self.fields[key]

    def get(self, key: str, default=None):
        return self.fields.get(key, default)

    def int(self, key: str, default: int | None = None) -> int:
        if key not in self.fields and default is not None:
            return default
        return int(self.fields[key], 0)

    def float(self, key: str) -> float:
        return float(self.fields[key])


# --- Seals (format 2) ----------------------------------------------------------------------
_SEAL_RE = re.compile(r" q=([0-9]{1,10}) c=([0-9a-f]{8})$")
_HALF_SEAL_RE = re.compile(r"(?:^|[ \t])(?:q|c)=")  # a seal field: sealed, though maybe broken
SEALED, UNSEALED, BROKEN = "sealed", "unsealed", "broken"


def seal_text(text: str, seq: int) -> str:
    """``text`` (a record without newline) sealed as the firmware does (sdk/runtime/log.c)."""
    body = f"{text} q={seq}"
    return f"{body} c={zlib.crc32(body.encode('latin-1')):08x}"


def unseal(text: str) -> tuple[str, str, int | None]:
    """(record text without its seal, SEALED / UNSEALED / BROKEN, sequence number).

    SEALED: the CRC-32 over the text up to `` c=`` matches. BROKEN: the record carries a seal
    field (``q=`` or ``c=``) but no valid seal: changed on the way, never to be trusted."""
    m = _SEAL_RE.search(text)
    if m is None:
        return text, (BROKEN if _HALF_SEAL_RE.search(text) else UNSEALED), None
    body = text[:m.start(2) - 3]
    try:
        crc = zlib.crc32(body.encode("ascii"))
    except UnicodeEncodeError:
        return text, BROKEN, None
    if crc != int(m.group(2), 16):
        return text, BROKEN, None
    return text[:m.start()], SEALED, int(m.group(1))


def parse_line(line: str) -> Record | None:
    """The record on this line, or None for free text, malformed records and broken seals."""
    text, seal, seq = unseal(line.strip(" \t\r\n"))
    if seal == BROKEN:
        return None
    m = _RECORD_RE.match(text)
    if not m:
        return None
    return Record(m.group("type"), dict(_FIELD_RE.findall(m.group("fields"))), seq)


KEEP_PER_TYPE = 100_000  # records of one type kept in LogState.records (the rest: counted)
KEEP_PERF = 20_000  # @perf records kept as records (all of them are summed in PerfTotals)
MAX_PERF_GROUPS = 4_000  # distinct (layer, phase) summed separately; the rest as one group
_OPEN_MEASUREMENTS = 64  # per group: measurements still taking records (one per core)
OTHER_LAYERS = "(other layers)"


class PerfTotals:
    """``@perf`` records summed as they arrive, in bounded memory (docs/devlog.md,
    "Measurements"): per (layer, phase) the sum over measurements of the makespan (max cycles
    over cores), instret max and sum, flop, dma_in, dma_out, the cores seen."""

    def __init__(self):
        self.groups: OrderedDict = OrderedDict()
        self.step_ids: set[int] = set()
        self.folded = 0  # (layer, phase) pairs summed into OTHER_LAYERS

    def add(self, r: Record) -> None:
        key = (r["layer"], r["phase"])
        g = self.groups.get(key)
        if g is None:
            if len(self.groups) >= MAX_PERF_GROUPS:
                self.folded += 1
                key = (OTHER_LAYERS, r["phase"])
                g = self.groups.get(key)
            if g is None:
                g = self.groups[key] = {"open": OrderedDict(), "at": {}, "done": [0] * 6,
                                        "n": 0, "cores": set()}
        core = r.int("core")
        step = r.int("step") if "step" in r.fields else None
        last = g["at"].get(core)
        n = last[1] + 1 if last is not None and last[0] == step else 0
        g["at"][core] = (step, n)
        if step is not None:
            self.step_ids.add(step)
        g["cores"].add(core)
        m = g["open"].get((step, n))
        if m is None:
            g["n"] += 1
            m = g["open"][(step, n)] = [0, 0, 0, 0, 0, 0]
            if len(g["open"]) > _OPEN_MEASUREMENTS:
                _, old = g["open"].popitem(last=False)
                g["done"] = [a + b for a, b in zip(g["done"], old)]
        cyc, ins = r.int("cycles"), r.int("instret")
        m[0] = max(m[0], cyc)
        m[1] = max(m[1], ins)
        m[2] += ins
        m[3] += r.int("flop", 0)
        m[4] += r.int("dma_in", 0)
        m[5] += r.int("dma_out", 0)

    def rows(self) -> list[dict]:
        """One row per (layer, phase), in order of appearance (report.layer_rows)."""
        out = []
        for (layer, phase), g in self.groups.items():
            tot = list(g["done"])
            for m in g["open"].values():
                tot = [a + b for a, b in zip(tot, m)]
            row = {"layer": layer, "phase": phase, "measurements": g["n"]}
            row.update(zip(("cycles", "instret_max", "instret_sum", "flop", "dma_in", "dma_out"), tot))
            row["cores"] = len(g["cores"])
            out.append(row)
        return out


@dataclass
class LogState:
    """Records of one run, in order, and its sentinels, in bounded memory: every ``@perf`` is
    summed in ``perf``; ``records`` keeps the first KEEP_PERF ``@perf`` records and the first
    KEEP_PER_TYPE of every other type, ``not_kept`` counts the rest per type."""

    records: list[Record] = field(default_factory=list)
    started: bool = False
    exit_code: int | None = None  # from @done
    fault: Record | None = None
    count: int = 0  # records taken, kept or not
    perf: PerfTotals = field(default_factory=PerfTotals)
    kept: dict = field(default_factory=dict)
    not_kept: dict = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.exit_code is not None or self.fault is not None

    def add(self, rec: Record) -> None:
        """Take one trusted record (no sentinel logic)."""
        self.count += 1
        if rec.type == "perf":
            self.perf.add(rec)
        n = self.kept.get(rec.type, 0)
        if n < (KEEP_PERF if rec.type == "perf" else KEEP_PER_TYPE):
            self.kept[rec.type] = n + 1
            self.records.append(rec)
        else:
            self.not_kept[rec.type] = self.not_kept.get(rec.type, 0) + 1

    def feed(self, line: str) -> Record | None:
        """Take one console line; returns the record it held, if any."""
        rec = parse_line(line)
        if rec is None:
            return None
        self.add(rec)
        if rec.type == "start":
            self.started = True
        elif rec.type == "done":
            self.exit_code = rec.int("code", 0)
        elif rec.type == "fault":
            self.fault = rec
        return rec

    def of_type(self, type_: str) -> list[Record]:
        return [r for r in self.records if r.type == type_]


def parse_lines(lines) -> LogState:
    """Parse a whole log (an iterable of lines)."""
    state = LogState()
    for line in lines:
        state.feed(line)
    return state


# --- Strict scanning for noisy links (the harness) -------------------------------------------
# parse_line() above is the lenient reader of clean logs. scan_line() is for a console that may
# carry noise (boot garbage, flipped bits, two lines run together when a newline was lost): it
# finds a record even after leading noise, accepts only printable ASCII values without '@', and
# checks the fields each known record type needs (integers where numbers are expected, counters
# not negative), so that a record hit by noise is dropped instead of giving wrong numbers.
_START_RE = re.compile(r"@[a-z]+(?=[ \t]|$)")
_STRICT_RE = re.compile(r"@(?P<type>[a-z]+)(?P<fields>(?:[ \t]+[a-z0-9_]+=[\x21-\x3f\x41-\x7e]+)*)[ \t]*$")
_ATTEMPT_RE = re.compile(r"@[a-z]+[ \t]+[a-z0-9_]+=")
_NAME_RE = re.compile(r"[A-Za-z0-9_.:/+-]+$")
_UINT, _INT, _FLOAT, _NAME, _ANY = "uint", "int", "float", "name", "any"
# type -> {field: kind}; fields named in REQUIRED_FIELDS must be present, the others are checked
# only when present. Unknown record types and unknown fields are kept (the format may grow).
FIELD_KINDS = {
    "start": {"app": _NAME, "target": _NAME, "cores": _UINT, "perf": _NAME, "log": _UINT,
              "steps": _UINT, "batch": _UINT},
    "train": {"steps": _UINT, "batch": _UINT, "accumulate": _UINT},
    "perf": {"layer": _NAME, "phase": _NAME, "core": _UINT, "cycles": _UINT, "instret": _UINT,
             "flop": _UINT, "dma_in": _UINT, "dma_out": _UINT, "step": _UINT},
    "loss": {"step": _UINT, "value": _FLOAT},
    "step": {"step": _UINT, "cycles": _UINT, "instret": _UINT},
    "mem": {"level": _NAME, "cap": _UINT, "static": _UINT, "peak": _UINT},
    "result": {"name": _NAME, "ok": _UINT, "value": _FLOAT, "ref": _FLOAT},
    "done": {"code": _INT},
    "fault": {"cause": _ANY, "epc": _ANY, "tval": _ANY, "core": _ANY},
}
REQUIRED_FIELDS = {
    "start": ("app",), "train": (), "perf": ("layer", "phase", "core", "cycles", "instret"),
    "loss": ("step", "value"), "step": ("step", "cycles"), "mem": ("level", "cap", "static"),
    "result": ("name", "ok"),
    "done": ("code",), "fault": (),
}


_U64 = 1 << 64  # counters are 64-bit on the device: a longer number is noise


def _valid(kind: str, text: str) -> bool:
    try:
        if kind == _UINT:
            return len(text) <= 24 and 0 <= int(text, 0) < _U64
        if kind == _INT:
            if len(text) > 24 or not -_U64 // 2 <= int(text, 0) < _U64 // 2:
                return False
        elif kind == _FLOAT:
            float(text)
        elif kind == _NAME:
            return bool(_NAME_RE.match(text))
    except ValueError:
        return False
    return True


def check_record(rec: Record) -> str | None:
    """Why a record cannot be trusted (a missing or ill-formed field), or None when it is fine."""
    kinds = FIELD_KINDS.get(rec.type, {})
    for key in REQUIRED_FIELDS.get(rec.type, ()):
        if key not in rec.fields:
            return f"@{rec.type} without {key}="
    for key, value in rec.fields.items():
        kind = kinds.get(key)
        if kind and not _valid(kind, value):
            return f"@{rec.type} {key}={value!r} is not a valid {kind}"
    if rec.type == "result" and rec.fields["ok"] not in ("0", "1"):
        return "@result ok= is neither 0 nor 1"
    return None


def _strict(text: str) -> Record | None:
    m = _STRICT_RE.match(text)
    if not m:
        return None
    pairs = _FIELD_RE.findall(m.group("fields"))
    fields = dict(pairs)
    if len(fields) != len(pairs):  # a key twice: two records run together
        return None
    return Record(m.group("type"), fields)


@dataclass
class Scan:
    """What scan_line() found on one line.

    ``record``: the trusted record or None. ``dropped``: how many record starts on the line were
    unusable (broken by noise, cut, or failing check_record). ``noise``: there was something
    before the record (garbage, or a broken record). ``reason``: why a record was dropped.
    """

    record: Record | None
    dropped: int = 0
    noise: bool = False
    reason: str = ""

    @property
    def sealed(self) -> bool:
        """The record carried a valid seal (format 2)."""
        return self.record is not None and self.record.seq is not None


def scan_line(line: str) -> Scan:
    """Find the trusted record of a console line that may carry noise (see the comment above).

    The record is the last ``@type`` on the line whose rest has no broken seal, parses strictly
    and passes check_record(). Every other attempt at a record on the line counts as dropped: an ``@``
    opening the line, or an ``@type key=`` further on (free text that merely mentions ``@perf``
    stays free text). A line with no attempt at all is free text (``Scan(None)``).
    """
    line = line.rstrip("\r\n")
    lead = len(line) - len(line.lstrip())
    starts = [m.start() for m in _START_RE.finditer(line)]
    attempts = [p for p in starts if p == lead or _ATTEMPT_RE.match(line, p)]
    if line[lead:lead + 1] == "@" and lead not in attempts:
        attempts.insert(0, lead)  # '@' opening the line but no '@type' there: a broken record
    reason = ""
    line = line.rstrip(" \t")
    for p in reversed(starts):
        text, seal, seq = unseal(line[p:])
        if seal == BROKEN:
            rec, why = None, "seal does not match"
        else:
            rec = _strict(text)
            why = "does not parse" if rec is None else check_record(rec)
            if rec is not None:
                rec.seq = seq
        if why is None:
            before = [a for a in attempts if a < p]
            return Scan(rec, dropped=len(before), noise=bool(line[:p].strip()),
                        reason=reason)
        if p in attempts:
            reason = reason or f"{why}: {line[p:][:60]!r}"
    if not attempts:
        return Scan(None)
    return Scan(None, dropped=len(attempts), noise=True, reason=reason or f"not a record: {line[:60]!r}")
