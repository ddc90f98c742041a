"""Parser of the device log format (docs/devlog.md): ``@<type> key=value ...`` records.

Lines that are not records are free text and ignored. ``LogState`` follows a run line by line
and knows whether it has started, ended (``@done``) or crashed (``@fault``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

RECORD_TYPES = ("start", "perf", "loss", "mem", "result", "done", "fault", "bench")
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
