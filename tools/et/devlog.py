"""Parser of the device log format (docs/devlog.md): ``@<type> key=value ...`` records.

Lines that are not records are free text and ignored. ``LogState`` follows a run line by line
and knows whether it has started, ended (``@done``) or crashed (``@fault``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

RECORD_TYPES = ("start", "perf", "loss", "mem", "result", "done", "fault", "bench", "train",
                "step")
_RECORD_RE = re.compile(r"^\s*@(?P<type>[a-z]+)(?P<fields>(?:[ \t]+[a-z0-9_]+=\S+)*)[ \t]*\r?$")
_FIELD_RE = re.compile(r"([a-z0-9_]+)=(\S+)")


@dataclass
class Record:
    """One parsed record: its type and its fields as strings (use ``int``/``float`` to convert)."""

    type: str
    fields: dict[str, str]

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


def parse_line(line: str) -> Record | None:
    """The record on this line, or None for free text and malformed records."""
    m = _RECORD_RE.match(line)
    if not m:
        return None
    return Record(m.group("type"), dict(_FIELD_RE.findall(m.group("fields"))))


@dataclass
class LogState:
    """Records of one run, in order, and its sentinels."""

    records: list[Record] = field(default_factory=list)
    started: bool = False
    exit_code: int | None = None  # from @done
    fault: Record | None = None

    @property
    def finished(self) -> bool:
        return self.exit_code is not None or self.fault is not None

    def feed(self, line: str) -> Record | None:
        """Take one console line; returns the record it held, if any."""
        rec = parse_line(line)
        if rec is None:
            return None
        self.records.append(rec)
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
    "train": {"steps": _UINT, "batch": _UINT},
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


def _valid(kind: str, text: str) -> bool:
    try:
        if kind == _UINT:
            return int(text, 0) >= 0
        if kind == _INT:
            int(text, 0)
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


def scan_line(line: str) -> Scan:
    """Find the trusted record of a console line that may carry noise (see the comment above).

    The record is the last ``@type`` on the line whose rest parses strictly and passes
    check_record(). Every other attempt at a record on the line counts as dropped: an ``@``
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
    for p in reversed(starts):
        rec = _strict(line[p:])
        why = "does not parse" if rec is None else check_record(rec)
        if why is None:
            before = [a for a in attempts if a < p]
            return Scan(rec, dropped=len(before), noise=bool(line[:p].strip()),
                        reason=reason)
        if p in attempts:
            reason = reason or f"{why}: {line[p:][:60]!r}"
    if not attempts:
        return Scan(None)
    return Scan(None, dropped=len(attempts), noise=True, reason=reason or f"not a record: {line[:60]!r}")
