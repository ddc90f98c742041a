"""Samples over the serial link, host side: answers the device's ``@need`` records with blocks.

A program built with ``sample_source="link"`` does not carry its training samples: for each one
it prints ``@need idx=K bytes=N try=T`` and receives the sample in blocks of BLOCK payload bytes
(sdk/include/et_link.h, docs/devlog.md "Samples over the link"), each

    "ETS1" | idx u32 | block u16 | length u16 | payload | CRC-32 of idx .. payload

little-endian, the sample's bytes being its input values (float32) then its label (int32) or
target values (float32). The device keeps every block that arrives whole with its CRC, and when
the link has been quiet for its timeout asks again (``try`` + 1) with ``miss=``, a hex bitmap of
the blocks still missing (block 8b+k is bit k of byte b); the host sends those. A request lost on
the way is asked again by the device's timeout, so every byte it keeps was checked.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

MAGIC = b"ETS1"
BLOCK = 64   # ET_LINK_BLOCK


def blocks(idx: int, data: bytes, which=None) -> bytes:
    """The blocks of item ``idx`` (all, or the numbers in ``which``), framed."""
    nblk = -(-len(data) // BLOCK)
    out = []
    for b in range(nblk) if which is None else which:
        part = data[b * BLOCK:(b + 1) * BLOCK]
        head = struct.pack("<IHH", idx, b, len(part))
        out.append(MAGIC + head + part + struct.pack("<I", zlib.crc32(head + part)))
    return b"".join(out)


def missing(miss: str, nblk: int) -> list[int]:
    """Block numbers set in a ``miss=`` bitmap (hex, block 8b+k = bit k of byte b)."""
    bits = bytes.fromhex(miss)
    return [b for b in range(nblk) if b // 8 < len(bits) and bits[b // 8] >> (b % 8) & 1]


class LinkError(RuntimeError):
    """The device asked for something the host cannot send (named in the message)."""


class SampleFeeder:
    """Answers ``@need`` records from the samples in ``path`` (codegen's link_samples.npz:
    ``input`` float32 [n, per], ``label`` int32 [n] or float32 [n, k]) by ``write(bytes)``.
    ``requests`` counts the requests answered, ``retries`` those the device repeated (its
    ``try`` > 1: a block or the request was lost, corrupted or late), ``sent`` the bytes."""

    def __init__(self, path: str, write):
        with np.load(path) as d:
            x = np.ascontiguousarray(d["input"], "<f4").reshape(len(d["input"]), -1)
            y = d["label"]
        y = np.ascontiguousarray(y, "<i4" if y.dtype.kind in "iu" else "<f4").reshape(len(x), -1)
        self.payloads = [x[k].tobytes() + y[k].tobytes() for k in range(len(x))]
        self.write = write
        self.requests = self.retries = self.sent = 0

    def __call__(self, rec) -> None:
        if rec.type != "need":
            return
        idx, size = rec.int("idx"), rec.int("bytes")
        if not 0 <= idx < len(self.payloads):
            raise LinkError(f"the device asked for sample {idx}; the host has "
                            f"{len(self.payloads)}")
        data = self.payloads[idx]
        if size != len(data):
            raise LinkError(f"the device asked for {size} bytes of sample {idx}; it has "
                            f"{len(data)} (a program built for other samples?)")
        self.requests += 1
        self.retries += rec.int("try") > 1
        which = None
        if "miss" in rec.fields:
            try:
                which = missing(rec.fields["miss"], -(-size // BLOCK))
            except ValueError:
                raise LinkError(f"the device's request for sample {idx} has a malformed "
                                f"miss= bitmap {rec.fields['miss'][:40]!r}") from None
        out = blocks(idx, data, which)
        self.sent += len(out)
        self.write(out)


LINK_SAMPLES = "link_samples.npz"   # beside the ELF of a sample_source="link" program


def samples_for(elf: str) -> str:
    """The samples file of a program built with sample_source "link" ('' for any other)."""
    import os
    path = os.path.join(os.path.dirname(os.path.abspath(elf)), LINK_SAMPLES)
    return path if os.path.exists(path) else ""


def feeder_for(elf: str, write, path: str = "") -> SampleFeeder | None:
    """A SampleFeeder answering the program's requests by ``write`` from ``path`` (default:
    samples_for(elf)), or None for a program that asks for none."""
    path = path or samples_for(elf)
    return SampleFeeder(path, write) if path else None


def summary(feeder: SampleFeeder) -> str:
    """One line: samples sent, bytes, requests repeated."""
    return (f"link: {feeder.requests - feeder.retries} samples sent over the serial link "
            f"({feeder.sent:,} bytes); the device asked again {feeder.retries} times (a block "
            "or a request lost, corrupted or late)")
