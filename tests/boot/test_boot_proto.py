"""The bootloader's frame parser (sdk/boot/boot_proto.c) built natively with ASan/UBSan and
driven by hypothesis-generated frames: valid, damaged, truncated, out of range, protected.
It must never crash, never write or read outside the application regions or inside the
protected ranges (the driver aborts), and answer every well-formed frame as specified (the
driver is built by the `driver` fixture of conftest.py)."""
import struct
import subprocess
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runners.bootlink import (CMD_BITMAP, CMD_BLOCK, CMD_CRC, CMD_IDENTIFY, CMD_START, CMD_WINDOW,
                              CMD_WRITE, RSYNC, encode)

REGIONS = [(0x1000, 0x1000), (0x8000, 0x100), (0x9000, 0x1000), (0x100000, 0x100000)]
PROTECT = [(0x1F00, 0x80), (0x9800, 0x800)]


def _records(chunks) -> bytes:
    out = b""
    for c in chunks:
        out += b"\x01" if c is None else b"\x00" + struct.pack("<H", len(c)) + c
    return out


def _run(driver, chunks):
    p = subprocess.run([driver], input=_records(chunks), capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return p.stdout, p.stderr.decode()


def _responses(data: bytes):
    """(status, seq, payload) of every response frame (all must be well-formed)."""
    out, i = [], 0
    while i < len(data):
        assert data[i:i + 2] == RSYNC, data[i:]
        status, seq, n = struct.unpack_from("<BBH", data, i + 2)
        body = data[i + 2:i + 6 + n]
        assert struct.unpack_from("<I", data, i + 6 + n)[0] == zlib.crc32(body)
        out.append((status, seq, data[i + 6:i + 6 + n]))
        i += 10 + n
    return out


def _legal(addr, size):
    if size == 0:
        return False
    inside = any(b <= addr and addr + size <= b + n for b, n in REGIONS)
    return inside and not any(addr < b + n and b < addr + size for b, n in PROTECT)


# Addresses near every region and protected-range edge, plus anything 32-bit.
_edges = sorted({e + d for b, n in REGIONS + PROTECT for e in (b, b + n)
                 for d in (-5, -4, -1, 0, 1, 4)} | {0, 0xFFFFFFFF, 0xFFFFFFFC})
addr_st = st.one_of(st.sampled_from(_edges), st.integers(0, 0xFFFFFFFF),
                    st.integers(0x0F00, 0xA100))
size_st = st.one_of(st.integers(0, 16), st.integers(0, 0x1100), st.sampled_from([0xFFFFFFFF]))


@st.composite
def frame_st(draw):
    kind = draw(st.sampled_from(["write", "crc", "start", "identify", "window", "block",
                                 "bitmap", "raw"]))
    seq = draw(st.integers(0, 255))
    if kind == "window":
        block = draw(st.sampled_from([0, 8, 15, 16, 17, 64, 4096, 4097, 0xFFFF]))
        return encode(CMD_WINDOW, seq, struct.pack("<IIHH", draw(addr_st), draw(size_st), block,
                                                    draw(st.integers(0, 2))))
    if kind == "block":
        head = struct.pack("<HH", draw(st.integers(0, 2)), draw(st.integers(0, 300)))
        return encode(CMD_BLOCK, draw(st.sampled_from([0, seq])),
                      head + draw(st.binary(max_size=300)))
    if kind == "bitmap":
        return encode(CMD_BITMAP, seq)
    if kind == "write":
        data = draw(st.binary(min_size=0, max_size=300))
        return encode(CMD_WRITE, seq, struct.pack("<I", draw(addr_st)) + data)
    if kind == "crc":
        return encode(CMD_CRC, seq, struct.pack("<II", draw(addr_st), draw(size_st)))
    if kind == "start":
        return encode(CMD_START, seq, struct.pack("<I", draw(addr_st)))
    if kind == "identify":
        return encode(CMD_IDENTIFY, seq)
    cmd = draw(st.integers(0, 255))
    return encode(cmd, seq, draw(st.binary(max_size=64)))


@st.composite
def damaged_st(draw):
    f = bytearray(draw(frame_st()))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "drop", "dup", "cut", "len"]))
        if not f:
            break
        i = draw(st.integers(0, len(f) - 1))
        if op == "flip":
            f[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "drop":
            del f[i]
        elif op == "dup":
            f.insert(i, f[i])
        elif op == "cut":
            del f[i:]
        elif len(f) >= 6:
            f[4:6] = struct.pack("<H", draw(st.integers(0, 0xFFFF)))
    return bytes(f)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(st.one_of(frame_st(), damaged_st(), st.binary(max_size=40),
                                 st.none()), max_size=12))
def test_parser_never_crashes_nor_writes_outside(driver, frames):
    out, _err = _run(driver, frames + [None])
    _responses(out)  # every answer is a well-formed frame


@settings(max_examples=120, deadline=None)
@given(addr=addr_st, data=st.binary(min_size=0, max_size=200), seq=st.integers(0, 255))
def test_write_answer_follows_the_range_rule(driver, addr, data, seq):
    out, err = _run(driver, [encode(CMD_WRITE, seq, struct.pack("<I", addr) + data)])
    [(status, rseq, payload)] = _responses(out)
    assert rseq == seq and payload == b""
    if _legal(addr, len(data)):
        assert status == 0 and "writes=1" in err
    else:
        assert status in (2, 5, 6) and "writes=0" in err


def test_resync_after_garbage_and_timeout(driver):
    good = encode(CMD_WRITE, 7, struct.pack("<I", 0x1000) + b"abcd")
    partial = good[:9]
    out, err = _run(driver, [b"\x00\xa5\xa5", partial, None, good,
                             encode(CMD_CRC, 8, struct.pack("<II", 0x1000, 4))])
    res = _responses(out)
    assert [r[0] for r in res] == [3, 0, 0]  # TIMEOUT NAK, then both commands answered
    assert struct.unpack("<I", res[2][2])[0] == zlib.crc32(b"abcd")


def test_identify_and_error_codes(driver):
    frames = [encode(CMD_IDENTIFY, 1), encode(0x7F, 2), encode(CMD_START, 3, b"\0\0\x80\0"),
              encode(CMD_WRITE, 4, struct.pack("<I", 0x1F7F) + b"x"),
              encode(CMD_START, 5, struct.pack("<I", 0x1004))]
    bad_crc = bytearray(encode(CMD_IDENTIFY, 6))
    bad_crc[-1] ^= 1
    res = _responses(_run(driver, frames + [bytes(bad_crc), b"\xa5\x5a\x01\x09\xff\xff"])[0])
    assert [r[0] for r in res] == [0, 4, 5, 6, 0, 1, 2]
    version, maxp, nreg, nlen = struct.unpack_from("<HHBB", res[0][2])
    assert (version, nreg, res[0][2][-nlen:]) == (2, 4, b"fuzz")


# --- version 2: windows -----------------------------------------------------------------------
def _window(seq, addr, size, block, tag=1):
    return encode(CMD_WINDOW, seq, struct.pack("<IIHH", addr, size, block, tag))


def _block(idx, data, tag=1):
    return encode(CMD_BLOCK, 0, struct.pack("<HH", tag, idx) + data)


def test_window_is_checked_whole_and_refused_when_it_cannot_hold(driver):
    frames = [_window(1, 0x1000, 0x100, 16),       # ok
              _window(2, 0x1000, 0x1001, 64),      # one byte past the region: RANGE
              _window(3, 0x1E00, 0x200, 64),       # covers the protected 0x1F00: PROTECT
              _window(4, 0x100000, 16 * 257, 16),  # 257 blocks: LEN
              _window(5, 0x100000, 64, 8),         # block under 16 bytes: LEN
              _window(6, 0x100000, 0, 16),         # empty: LEN
              encode(CMD_BITMAP, 7)]               # the last refused WINDOW closed the window
    res = _responses(_run(driver, frames)[0])
    assert [r[0] for r in res] == [0, 5, 6, 2, 2, 2, 0]
    assert res[-1][2] == b"\0\0\0\0"


def test_blocks_are_written_once_silently_and_reported_in_the_bitmap(driver):
    data = bytes(range(256)) * 2 + b"tail!"  # 517 bytes: 8 blocks of 64 and one of 5
    blocks = [_block(i, data[i * 64:(i + 1) * 64], tag=7) for i in range(9)]
    damaged = bytearray(blocks[3])
    damaged[20] ^= 0x10
    lost_byte = blocks[5][:30] + blocks[5][31:]  # a dropped byte: only this block is lost
    frames = [_window(1, 0x100000, len(data), 64, tag=7)]
    frames += [blocks[i] for i in (0, 1, 2, 2)]
    frames += [bytes(damaged), lost_byte,
               blocks[6], _block(4, data[256:320], tag=6),  # wrong tag
               blocks[8], blocks[7],
               encode(CMD_BITMAP, 9)]
    out, err = _run(driver, frames)
    res = _responses(out)
    assert [(r[0], r[1]) for r in res] == [(0, 1), (0, 9)]  # no answer to any BLOCK
    count, received = struct.unpack_from("<HH", res[1][2])
    assert (count, received) == (9, 6) and res[1][2][4:] == bytes([0b11000111, 0b1])
    assert "writes=6" in err  # block 2 sent twice, written once
    # the rest, then the CRC of the whole window
    frames += [blocks[i] for i in (3, 4, 5)]
    frames += [encode(CMD_BITMAP, 10), encode(CMD_CRC, 11, struct.pack("<II", 0x100000, len(data)))]
    res = _responses(_run(driver, frames)[0])
    assert res[2][2] == struct.pack("<HH", 9, 9) + b"\xff\x01"
    assert struct.unpack("<I", res[3][2])[0] == zlib.crc32(data)


def test_a_block_of_the_wrong_length_is_dropped_at_its_header(driver):
    """A BLOCK whose length fits no block of the window is dropped before its payload, so a
    damaged length cannot swallow the frames behind it."""
    frames = [_window(1, 0x100000, 128, 64), _block(0, b"x" * 100), _block(1, b"y" * 64),
              encode(CMD_BITMAP, 2)]
    res = _responses(_run(driver, frames)[0])
    assert res[1][2] == struct.pack("<HH", 2, 1) + b"\x02"
