"""The fast decoder: a getProgramAccounts body whose base64 slices all have one width.

Always the case for SPL Token (its ``dataSize 165`` filter and one ``dataSlice``), and for a
Token-2022 mint whose accounts all carry extensions or all carry none. The body is read as
bytes, never as JSON objects:

1. one pass over the body, 4 MiB at a time (the chunk stays in cache for the checks), finds
   every ``{`` and ``[``: the account items are the ``{"pubkey"`` or ``{"account"`` among them
   (nodes write the item's keys in either order), the base64 strings start after the
   ``"data":["`` among them. Each item must be followed by exactly one data string before the
   next item begins, so no account can be skipped unseen;
2. every string must end after the same number of characters with ``","base64"]`` and the
   same padding, which fixes the slice length;
3. only what the snapshot reads is decoded: the first 56 characters (bytes 0..42: owner and
   amount) by polars in one vectorised call over an Arrow binary-view array that points into
   the body itself (no copy), and the one base64 quad that holds the state byte (and, for
   Token-2022, the account-type byte) by a table lookup in numpy.

Anything else (items opening with another key, whitespace, mixed widths, characters outside
base64 where they are read) returns None and the caller uses a slower decoder that accepts it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

# An account item opens with one of its two keys: '{"pubkey"' in a node's struct order,
# '{"account"' when the node sorts keys (older nodes serialised through a sorted map).
_KEY_PUBKEY = int.from_bytes(b'"pubkey"', "little")
_KEY_ACCOUNT = int.from_bytes(b'"account', "little")  # then '"'
_KEY_DATA = int.from_bytes(b'"data":[', "little")  # then '"' after the '['
_KEY_END = int.from_bytes(b'","bas', "little")  # after the two last characters of a string
_KEY_END_TAIL = int.from_bytes(b'base64"]', "little")
_BRACKET_AT = 7
_CHUNK = 1 << 22
_MAX_PARTS = 8
_MIN_PART = 1 << 24  # bytes of body per thread, at least
_FOLD = 0x20  # '[' | 0x20 == '{' and no other byte folds onto '{'
_EQUALS = ord("=")
_QUOTE = ord('"')
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_VALUES = np.full(256, 255, dtype=np.uint8)
_VALUES[np.frombuffer(_ALPHABET, dtype=np.uint8)] = np.arange(64, dtype=np.uint8)
HEAD_CHARS = 56  # base64 of bytes 0..42: owner (0..32) and amount (32..40)


def _eight_bytes_at_every_offset(raw: bytes) -> np.ndarray:
    """A little-endian u64 read at each byte offset (overlapping, unaligned view, no copy)."""
    return np.ndarray(shape=(max(len(raw) - 7, 0),), dtype="<u8", buffer=raw, strides=(1,))


def _items_and_strings(
    body: np.ndarray, words: np.ndarray, low: int, high: int
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of every account item's ``{`` and of the first character of every
    ``"data":["`` string, for the braces and brackets in ``body[low:high]``."""
    folded = np.empty(_CHUNK, dtype=np.uint8)  # reused: no fresh pages per chunk
    found = np.empty(_CHUNK, dtype=np.bool_)
    last = len(words) - 1
    items: list[np.ndarray] = [np.empty(0, dtype=np.intp)]
    strings: list[np.ndarray] = [np.empty(0, dtype=np.intp)]
    for offset in range(low, high, _CHUNK):
        chunk = body[offset : min(offset + _CHUNK, high)]
        size = len(chunk)
        np.bitwise_or(chunk, _FOLD, out=folded[:size])
        np.equal(folded[:size], ord("{"), out=found[:size])
        hits = np.flatnonzero(found[:size]) + offset
        brace = body[hits] == ord("{")
        opening = hits[brace]
        opening = opening[opening < last - 1]
        key = words[opening + 1]
        item = (key == _KEY_PUBKEY) | ((key == _KEY_ACCOUNT) & (body[opening + 9] == _QUOTE))
        items.append(opening[item])
        marker = hits[~brace] - _BRACKET_AT
        marker = marker[(marker >= 0) & (marker < last)]
        marker = marker[words[marker] == _KEY_DATA]
        string = marker + _BRACKET_AT + 2
        strings.append(string[body[string - 1] == _QUOTE])
    return np.concatenate(items), np.concatenate(strings)


def _byte_at(words: np.ndarray, starts: np.ndarray, index: int) -> np.ndarray | None:
    """Decoded byte ``index`` of every slice, from the one base64 quad that holds it."""
    quad, within = divmod(index, 3)
    text = words[starts + 4 * quad]
    first = _VALUES[(text >> np.uint64(8 * within)).astype(np.uint8)]
    second = _VALUES[(text >> np.uint64(8 * within + 8)).astype(np.uint8)]
    if bool((first > 63).any()) or bool((second > 63).any()):
        return None
    if within == 0:
        return (first << 2) | (second >> 4)  # type: ignore[no-any-return]
    if within == 1:
        return ((first & 0x0F) << 4) | (second >> 2)  # type: ignore[no-any-return]
    return ((first & 0x03) << 6) | second  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Layout:
    raw: bytes
    words: np.ndarray
    width: int  # characters in every string
    ending: int  # the first string's u64 from two characters before its end (padding, '","bas')
    size: int  # decoded slice length
    state_at: int
    type_at: int


def _columns(layout: _Layout, starts: np.ndarray) -> pl.DataFrame | None:
    """The columns for the strings at ``starts``: the first HEAD_CHARS characters decoded by
    polars through Arrow binary views into the body (length, 4-byte prefix, buffer 0, offset;
    no copy of the text), the state and type bytes by table lookup."""
    count = len(starts)
    # Same width and padding everywhere: 133- and 134-byte slices both take 180 characters.
    ending = layout.words[starts + (layout.width - 2)]
    if not bool(((ending >> np.uint64(16)) == np.uint64(_KEY_END)).all()):
        return None
    for shift in (0, 8):  # the padding, not the characters before it (those carry data)
        expected = (layout.ending >> shift) & 0xFF == _EQUALS
        padded = ((ending >> np.uint64(shift)) & np.uint64(0xFF)) == np.uint64(_EQUALS)
        if not bool((padded == expected).all()):
            return None
    if not bool((layout.words[starts + (layout.width + 3)] == np.uint64(_KEY_END_TAIL)).all()):
        return None
    views = np.zeros((count, 4), dtype=np.int32)
    views[:, 0] = HEAD_CHARS
    views[:, 1] = (layout.words[starts] & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)
    views[:, 3] = starts
    text = pa.Array.from_buffers(
        pa.binary_view(), count, [None, pa.py_buffer(views), pa.py_buffer(layout.raw)]
    )
    try:
        head = pl.Series("head", pl.from_arrow(text)).bin.decode("base64")
    except pl.exceptions.ComputeError:
        return None
    if layout.size > layout.state_at:
        state = _byte_at(layout.words, starts, layout.state_at)
    else:
        state = np.zeros(count, np.uint8)
    kind = _byte_at(layout.words, starts, layout.type_at) if layout.size > layout.type_at else None
    if state is None or (layout.size > layout.type_at and kind is None):
        return None
    return pl.DataFrame({"head": head}).select(
        owner=pl.col("head").bin.slice(0, 32),
        amount=pl.col("head")
        .bin.slice(32, 8)
        .bin.reinterpret(dtype=pl.UInt64, endianness="little"),
        state=pl.Series(state, dtype=pl.UInt8),
        slice_len=pl.lit(layout.size, dtype=pl.UInt32),
        account_type=pl.Series(kind, dtype=pl.UInt8)
        if kind is not None
        else pl.lit(None, pl.UInt8),
    )


def _parts(length: int) -> int:
    """Threads to split the work over: numpy and polars release the GIL for their bulk work."""
    return max(1, min(pl.thread_pool_size(), _MAX_PARTS, length // _MIN_PART))


def decode_fixed_width(
    raw: bytes, *, state_at: int, type_at: int, parts: int | None = None
) -> pl.DataFrame | None:
    """Columns owner, amount, state, slice_len, account_type; None when the body does not have
    the one shape this decoder reads (the caller then falls back). ``parts``: threads to split
    the body over (default: polars' pool size for a large body, else one)."""
    if len(raw) >= 2**31 or len(raw) < 8:
        return None  # Arrow views address the body with 32-bit offsets
    body = np.frombuffer(raw, dtype=np.uint8)
    words = _eight_bytes_at_every_offset(raw)
    parts = parts or _parts(len(raw))
    step = -(-len(raw) // parts)
    with ThreadPoolExecutor(parts) as pool:
        found = list(
            pool.map(
                lambda low: _items_and_strings(body, words, low, min(low + step, len(raw))),
                range(0, len(raw), step),
            )
        )
        items = np.concatenate([pair[0] for pair in found])
        starts = np.concatenate([pair[1] for pair in found])
        count = len(starts)
        if count == 0 or len(items) != count:
            return None
        if not (bool((items < starts).all()) and bool((starts[:-1] < items[1:]).all())):
            return None  # an item without its data string, or one with two
        width = raw.find(b'"', int(starts[0])) - int(starts[0])
        if width < HEAD_CHARS or width % 4 or int(starts[-1]) + width + 11 > len(raw):
            return None
        # The first string fixes the width and padding; every string must end the same way.
        ending = int(words[int(starts[0]) + width - 2])
        if ending >> 16 != _KEY_END:
            return None
        padded = [(ending >> shift) & 0xFF == _EQUALS for shift in (0, 8)]
        if padded == [True, False]:
            return None  # '=' before a data character: not base64
        padding = sum(padded)
        layout = _Layout(
            raw=raw,
            words=words,
            width=width,
            ending=ending,
            size=width // 4 * 3 - padding,
            state_at=state_at,
            type_at=type_at,
        )
        frames = list(pool.map(lambda part: _columns(layout, part), np.array_split(starts, parts)))
    if any(frame is None for frame in frames):
        return None
    return pl.concat([frame for frame in frames if frame is not None], rechunk=False)
