"""The start of a receive-pack request (a push), read before git runs: framework-free.

A push's body is pkt-lines (git's protocol-common(5)): optional ``shallow <sha>`` lines, then one
``old new ref`` line per ref, the first carrying ``\\0capabilities``, then a flush ``0000``; then,
unless every command deletes, the pack, whose 12-byte header says how many objects it holds.
``read_push`` reads that much, strictly (anything git would read otherwise is refused) and bounded,
so the git view can judge the push (refpolicy.py) and then hand git a ``Replay`` of the same bytes
followed by the rest of the body. A push refused there is answered by ``refusal`` in receive-pack's
own format: the candidate's git prints the reasons and "[remote rejected]" as it would for a hook.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from portal.hosting.refpolicy import Command, is_hidden, is_zero

# git's LARGE_PACKET_MAX: the longest pkt-line, its 4-byte length included.
MAX_PKT = 65520
# The command section of any honest push is far smaller (a command is ~100 bytes, ref names are
# at most 255 bytes, the refs per push are few): a larger one is refused without reading further.
MAX_COMMAND_BYTES = 256 * 1024
FLUSH = b"0000"
PACK_HEADER = 12

_LENGTH = re.compile(rb"[0-9a-fA-F]{4}")
_COMMAND = re.compile(rb"([0-9a-fA-F]{40}) ([0-9a-fA-F]{40}) (.+)", re.DOTALL)
_SHALLOW = re.compile(rb"shallow [0-9a-fA-F]{40}")


class ProtocolError(ValueError):
    """Not a push request git's client would send; the message is for whoever sent it."""


@dataclass
class PushRequest:
    commands: list[Command] = field(default_factory=list)
    capabilities: set[str] = field(default_factory=set)
    # How many commands the request holds; more than len(commands) when they passed the limit
    # (only the first ``max_refs + 1`` are kept); ``counted_all`` False when even counting them
    # stopped at MAX_COMMAND_BYTES.
    count: int = 0
    counted_all: bool = True
    objects: int | None = None  # the pack header's object count, when the header was read
    head: bytes = b""  # every byte read from the body, to be replayed to git

    @property
    def deletes_only(self) -> bool:
        return all(is_zero(new) for _old, new, _ref in self.commands)


class _Reader:
    def __init__(self, stream: BinaryIO, limit: int | None):
        self.stream = stream
        self.left = limit  # CONTENT_LENGTH: never read past it (the next request on the connection)
        self.read_bytes = bytearray()

    def exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            want = size - len(data)
            if self.left is not None:
                want = min(want, self.left)
                if want <= 0:
                    break
            chunk = self.stream.read(want)
            if not chunk:
                break
            if self.left is not None:
                self.left -= len(chunk)
            data += chunk
        self.read_bytes += data
        return data

    def pkt(self) -> bytes | None:
        """The payload of the next pkt-line, None for a flush."""
        length = self.exactly(4)
        if len(length) < 4:
            raise ProtocolError("the push request ended before its commands did.")
        if not _LENGTH.fullmatch(length):
            raise ProtocolError("the push request is not made of pkt-lines (a length is not 4 hex digits).")
        size = int(length, 16)
        if size == 0:
            return None
        if size <= 4 or size > MAX_PKT:
            # 0001-0004 (delimiters, empty lines) have no place in a push's commands.
            raise ProtocolError(f"the push request holds a pkt-line of length {size}.")
        payload = self.exactly(size - 4)
        if len(payload) < size - 4:
            raise ProtocolError("the push request ended in the middle of a pkt-line.")
        return payload


def read_push(
    stream: BinaryIO,
    *,
    content_length: int | None,
    max_refs: int,
    max_bytes: int = MAX_COMMAND_BYTES,
    read_pack_header: bool = True,
) -> PushRequest:
    """Read a push's commands (and its pack header, unless every command deletes or
    ``read_pack_header`` is False) from ``stream``; raise ProtocolError for anything else.

    Past ``max_refs`` commands, the rest are only counted, not parsed, and never more than
    ``max_bytes`` of them: the caller refuses the push anyway.
    """
    reader = _Reader(stream, content_length)
    push = PushRequest()
    try:
        while True:
            if len(reader.read_bytes) > max_bytes:
                if push.count > max_refs:
                    push.counted_all = False
                    return push
                raise ProtocolError(f"the push's commands are longer than {max_bytes} bytes.")
            line = reader.pkt()
            if line is None:
                break
            if push.count > max_refs:
                push.count += 1
                continue
            _command(push, line)
        if push.count > max_refs:
            return push
        if "push-options" in push.capabilities:
            raise ProtocolError("push options (git push -o) are not accepted by this repository.")
        if push.commands and not push.deletes_only and read_pack_header:
            push.objects = _pack_header(reader.exactly(PACK_HEADER))
        return push
    finally:
        push.head = bytes(reader.read_bytes)


def _command(push: PushRequest, line: bytes) -> None:
    if line.endswith(b"\n"):
        line = line[:-1]
    if not push.commands and _SHALLOW.fullmatch(line):
        return
    command, nul, features = line.partition(b"\0")
    if nul:
        push.capabilities.update(features.decode("ascii", "replace").split())
    match = _COMMAND.fullmatch(command)
    if match is None:
        shown = command[:60].decode("ascii", "backslashreplace")
        raise ProtocolError(f"expected 'old new ref' in the push's commands, got {shown!r}.")
    old, new, ref = match.groups()
    push.count += 1
    push.commands.append((old.decode().lower(), new.decode().lower(), ref.decode("utf-8", "surrogateescape")))


def _pack_header(header: bytes) -> int:
    if len(header) < PACK_HEADER:
        raise ProtocolError("the push request ended before its pack.")
    signature, version, objects = struct.unpack(">4sII", header)
    if signature != b"PACK" or version not in (2, 3):
        raise ProtocolError("the push's data is not a git pack.")
    return objects


class Replay:
    """A body stream that gives the bytes already read, then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head = memoryview(head)
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                size = len(self._head)
            chunk, self._head = bytes(self._head[:size]), self._head[size:]
            return chunk
        return self._stream.read(size)


def drain(stream: BinaryIO, *, content_length: int | None, already: int, limit: int) -> bool:
    """Read and drop the rest of a refused push's body, up to ``limit`` bytes in all; whether it
    ended (the client then reads the answer rather than failing to send)."""
    left = None if content_length is None else content_length - already
    total = already
    while left is None or left > 0:
        size = 256 * 1024 if left is None else min(256 * 1024, left)
        chunk = stream.read(size)
        if not chunk:
            return True
        total += len(chunk)
        if left is not None:
            left -= len(chunk)
        if total > limit:
            return False
    return True


def pkt(payload: bytes) -> bytes:
    return b"%04x" % (len(payload) + 4) + payload


def _sideband(band: int, data: bytes, max_pkt: int) -> bytes:
    step = max_pkt - 5
    return b"".join(pkt(bytes([band]) + data[start : start + step]) for start in range(0, len(data), step))


def refusal(push: PushRequest, problems: list[str], *, reason: bytes = b"pre-receive hook declined") -> bytes:
    """receive-pack's answer to a push its pre-receive hook declined, with ``problems`` as the
    hook's output: "remote: refused: ..." lines and "[remote rejected] ... (<reason>)" for every
    ref on the client (hidden refs get git's own "deny updating a hidden ref").
    """
    caps = push.capabilities
    report = b""
    if "report-status" in caps or "report-status-v2" in caps:
        lines = [pkt(b"unpack ok\n")]
        for _old, _new, ref in push.commands:
            why = b"deny updating a hidden ref" if is_hidden(ref) else reason
            lines.append(pkt(b"ng " + ref.encode("utf-8", "surrogateescape") + b" " + why + b"\n"))
        report = b"".join(lines) + FLUSH
    if "side-band-64k" in caps or "side-band" in caps:
        max_pkt = MAX_PKT if "side-band-64k" in caps else 1000
        messages = "".join(f"refused: {problem}\n" for problem in problems).encode("utf-8", "surrogateescape")
        return _sideband(2, messages, max_pkt) + _sideband(1, report, max_pkt) + FLUSH
    return report
