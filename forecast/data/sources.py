"""Opening sources: a path, ``-`` for stdin, or bytes; the stream scanner that hashes and
judges the first bytes (binary, NUL, a BOM) before the rest is read; encodings and decoding.

Every problem is a ``DataError`` that names the file and says how to fix it.
"""

from __future__ import annotations

import codecs
import collections
import hashlib
import io
import os
import stat
import sys
from pathlib import Path
from typing import IO

from forecast.errors import DataError, UsageError, where


def source_name(source: str | Path) -> str:
    """How messages name a source: ``<stdin>`` for ``-``, else the path as given."""
    return "<stdin>" if str(source) == "-" else str(source)


#: Characters of a cell a message quotes (a 1 MB cell is cut, with "...").
QUOTE_CHARS = 40


def shorten(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text``, cut to ``limit`` characters with "..." when longer."""
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def quote_cell(text: str) -> str:
    """A cell as a message quotes it: in single quotes, cut to ``QUOTE_CHARS``."""
    return f"'{shorten(text)}'"


def open_source(source: str | Path, stdin: IO[bytes] | None = None) -> IO[bytes]:
    """A file opened for reading, or stdin for ``-``; a missing or unreadable file is a
    DataError."""
    if str(source) == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        if hasattr(stream, "isatty") and stream.isatty():
            print("forecast: reading prices from stdin (end with Ctrl-D)", file=sys.stderr)
        return stream
    path = Path(source)
    try:
        if path.is_dir():
            raise DataError(f"{path} is a directory, not a CSV file")
        return path.open("rb")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; check the path (use - to read stdin)") from None
    except OSError as exc:   # a name too long, a permission, a loop of links
        raise DataError(f"{shorten(str(path), 100)}: cannot read ({exc.strerror or exc}); "
                        "check the path") from None


def read_bytes(source: str | Path, stdin: IO[bytes] | None = None) -> bytes:
    """All of a file, or of stdin for ``-`` (see ``open_source``)."""
    stream = open_source(source, stdin)
    try:
        return stream.read()
    except OSError as exc:
        raise DataError(f"{source_name(source)}: cannot read ({exc.strerror})") from None
    finally:
        if str(source) != "-":
            stream.close()


#: Byte-order marks and the encoding each says the file is in (UTF-32 before UTF-16: its
#: little-endian mark starts as UTF-16's does).
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))


def check_encoding(encoding: str | None) -> str | None:
    """``--encoding`` as Python's codec name (None: UTF-8, or as a byte-order mark says);
    a name Python does not know as a text encoding is a UsageError."""
    if encoding is None:
        return None
    try:
        info = codecs.lookup(encoding.strip())
    except (LookupError, ValueError):
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise UsageError(f"--encoding: '{encoding[:40]}' is not a text encoding Python knows; "
                         "pass one such as utf-8, cp1252, latin-1 or utf-16")
    return info.name


def is_utf8(encoding: str | None) -> bool:
    """Whether ``--encoding`` (as ``check_encoding`` names it) reads bytes as UTF-8 does."""
    return encoding in (None, "utf-8", "utf-8-sig")


def decode(raw: bytes, name: str, encoding: str | None = None) -> str:
    """Bytes to text: UTF-8 unless ``encoding`` (``--encoding``) says otherwise; without it a
    byte-order mark (UTF-8, UTF-16, UTF-32) says the encoding. Binary content is refused
    with its offset; bytes the encoding cannot read, with their line."""
    codec = check_encoding(encoding)
    if codec is None:
        codec = next((bom_codec for bom, bom_codec in BOMS if raw.startswith(bom)), None)
    if is_utf8(codec):
        nul = raw.find(b"\x00", 0, 65536)
        if nul >= 0:
            raise DataError(f"{name} looks like a binary file (NUL byte at offset {nul}), "
                            "not a CSV; pass a text CSV with a header row")
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            other = "" if encoding is None else f" (--encoding {encoding})"
            raise DataError(f"{where(name, line)}: not UTF-8 text{other} (byte {exc.start}); "
                            "pass --encoding cp1252 if the file came from Excel on Windows "
                            "(or --encoding NAME for another), or re-save it as UTF-8") from None
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].decode(codec, errors="replace").count("\n") + 1
        raise DataError(f"{where(name, line)}: not {encoding or codec} text (byte {exc.start}); "
                        "pass the file's own --encoding (utf-8, cp1252, latin-1, utf-16, ...)"
                        ) from None
    nul = text.find("\x00", 0, 65536)
    if nul >= 0:
        raise DataError(f"{name} looks like a binary file (NUL at character {nul} as "
                        f"{encoding or codec}), not a CSV; pass a text CSV with a header row")
    return text[1:] if text.startswith("\ufeff") else text


def sniff_delimiter(header: str) -> str:
    """The header line's separator: comma unless semicolons or tabs clearly take its place."""
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


def _regular(stream: IO[bytes]) -> bool:
    """Whether ``stream`` is a regular file (one that can be read again by its path)."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


#: Bytes at the start of an input judged before any more is read.
PROBE = 1 << 16


def _judge_start(start: bytes, name: str, encoding: str | None = None) -> None:
    """Refuse an input whose first bytes are binary (a NUL byte, or bytes that are no text
    in the encoding), as ``decode`` would once it had read every byte. A character cut by
    the end of the probe is not held against it."""
    head, error = start[:PROBE], None
    for cut in range(4 if len(start) > PROBE else 1):
        try:
            decode(head[:len(head) - cut], name, encoding)
            return
        except DataError as exc:
            error = error or exc
    raise error


def _bom_codec(start: bytes) -> str | None:
    """The codec a byte-order mark at ``start`` names (``BOMS``), or None."""
    return next((codec for bom, codec in BOMS if start.startswith(bom)), None)


def _refuse_nul(data: bytes | str, offset: int, name: str) -> None:
    """A NUL at ``offset`` of the input's UTF-8 bytes or of its text (-1: none) is binary
    data, not CSV text."""
    if offset >= 0:
        line = data[:offset].count(b"\n" if isinstance(data, bytes) else "\n") + 1
        raise DataError(f"{where(name, line)}: a NUL byte, binary data in what began as text; "
                        "remove it, or export the file again as CSV text")


#: The first bytes of every Parquet file.
PARQUET_MAGIC = b"PAR1"

#: Bytes read at a time (and at least this much before the header is looked at).
CHUNK = 1 << 20

#: Characters str.splitlines breaks lines at but CSV parsers do not, as UTF-8 bytes.
_ODD_BREAKS = tuple(c.encode() for c in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


class _Scan(io.RawIOBase):
    """A byte stream read once: it hashes what passes through and notes anything the fast
    reader leaves to the careful one (quotes, NUL bytes, a CR not before LF, line breaks
    that only ``str.splitlines`` knows). ``first`` is the stream's start, read ahead (a
    UTF-8 BOM dropped from what is handed on, not from the hash); with ``keep`` every
    byte is kept, for a stream that cannot be read twice (``spool`` reads it all)."""

    def __init__(self, stream: IO[bytes], keep: bool):
        super().__init__()
        self.stream, self.keep = stream, keep
        self.digest = hashlib.sha256()
        self.kept: list[bytes] = []
        self.queue: collections.deque[bytes] = collections.deque()
        self.odd = False
        self.cr = self.crlf = 0
        self.tail = b""
        self.size = 0
        self.nul = -1   # the offset of the first NUL byte
        first = self._pull(CHUNK)
        # up to a line break, and past a CR at the end (its LF may come next); not past
        # binary bytes (a file of zeros has no line break)
        while first and (b"\n" not in first or first.endswith(b"\r")) and self.nul < 0:
            more = self._pull(CHUNK)
            if not more:
                break
            first += more
        self.start = first
        self.first = first[3:] if first.startswith(b"\xef\xbb\xbf") else first
        self.ahead = self.first

    def _pull(self, n: int) -> bytes:
        chunk = self.stream.read(n)
        if not chunk:
            return b""
        self.digest.update(chunk)
        if self.keep:
            self.kept.append(chunk)
        probe = self.tail + chunk
        self.cr += chunk.count(b"\r")
        self.crlf += probe.count(b"\r\n") - self.tail.count(b"\r\n")
        if self.nul < 0 and b"\x00" in chunk:
            self.nul = self.size + chunk.index(b"\x00")
        self.odd = self.odd or b'"' in chunk or self.nul >= 0 or any(
            odd in probe for odd in _ODD_BREAKS)
        self.tail = probe[-3:]
        self.size += len(chunk)
        return chunk

    def spool(self, name: str, utf8: bool = True) -> None:
        """Read the rest of the stream now (``keep``), in the caller's thread: a signal
        stops it. In UTF-8 text a NUL byte ends it at once (a DataError naming its line)."""
        started = len(self.kept)
        while self._pull(CHUNK):
            if self.nul >= 0 and utf8:
                _refuse_nul(b"".join(self.kept), self.nul, name)
        self.queue.extend(self.kept[started:])

    @property
    def lone_cr(self) -> bool:
        return self.cr != self.crlf

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.ahead and self.queue:
            self.ahead = self.queue.popleft()
        data = self.ahead[:len(buffer)] if self.ahead else self._pull(len(buffer))
        self.ahead = self.ahead[len(data):] if self.ahead else b""
        buffer[:len(data)] = data
        return len(data)

    def rest(self) -> bytes:
        """Every byte of the stream (``keep``, or nothing handed on yet)."""
        parts = self.kept if self.keep else [self.start]
        while chunk := self._pull(CHUNK):
            if not self.keep:
                parts.append(chunk)
        return b"".join(parts)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()
