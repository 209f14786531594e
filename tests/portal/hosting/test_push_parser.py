"""The start of a push request as the git view reads it before git runs (portal/hosting/receive.py):
what a hostile client may put there is refused, bounded, and never misread."""

import io
import struct

import pytest

from portal.hosting.receive import (
    MAX_COMMAND_BYTES,
    MAX_PKT,
    ProtocolError,
    PushRequest,
    Replay,
    pkt,
    read_push,
    refusal,
)
from portal.hosting.refpolicy import moves_main, object_limit_problem, push_problems

ZERO = "0" * 40
OLD = "1" * 40
NEW = "2" * 40
CAPS = b"\0report-status side-band-64k agent=git/2.39"


def command(old: str, new: str, ref: str, caps: bytes = b"") -> bytes:
    return pkt(f"{old} {new} {ref}".encode() + caps + b"\n")


def pack_header(objects: int) -> bytes:
    return struct.pack(">4sII", b"PACK", 2, objects)


class CountingStream(io.BytesIO):
    """A body that notes how much of it was read."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.taken = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def parse(body: bytes, *, max_refs: int = 20, content_length: int | None = None) -> PushRequest:
    return read_push(io.BytesIO(body), content_length=content_length, max_refs=max_refs)


def test_an_ordinary_push_is_read_up_to_its_pack_header_and_no_further():
    body = command(ZERO, NEW, "refs/heads/issue-1", CAPS) + b"0000" + pack_header(3) + b"rest of the pack"
    push = parse(body)
    assert push.commands == [(ZERO, NEW, "refs/heads/issue-1")]
    assert {"report-status", "side-band-64k"} <= push.capabilities
    assert push.objects == 3
    assert push.head == body[: -len(b"rest of the pack")]


def test_a_delete_only_push_has_no_pack_and_none_is_waited_for():
    body = command(OLD, ZERO, "refs/heads/scratch", CAPS) + b"0000"
    push = parse(body, content_length=len(body))
    assert push.deletes_only and push.objects is None
    assert push.head == body


def test_shallow_lines_before_the_commands_are_passed_over():
    body = pkt(f"shallow {OLD}\n".encode()) + command(ZERO, NEW, "refs/heads/a", CAPS) + b"0000" + pack_header(1)
    assert parse(body).commands == [(ZERO, NEW, "refs/heads/a")]


def test_the_probe_before_a_large_push_is_only_a_flush():
    push = parse(b"0000")
    assert push.commands == [] and push.head == b"0000"


def test_the_length_bounds_what_is_read_never_the_next_request_on_the_connection():
    body = command(OLD, ZERO, "refs/heads/x", CAPS) + b"0000"
    stream = CountingStream(body + b"GET / HTTP/1.1\r\n")
    read_push(stream, content_length=len(body), max_refs=20)
    assert stream.taken == len(body)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"00a0" + b"x" * 10, "ended in the middle of a pkt-line"),
        (b"00", "ended before its commands did"),
        (b"0003abc", "pkt-line of length 3"),
        (b"0001", "pkt-line of length 1"),
        (b"0004", "pkt-line of length 4"),
        (b"fff1" + b"x" * 10, f"pkt-line of length {MAX_PKT + 1}"),
        (b"ffff", "pkt-line of length 65535"),
        (b"00g0", "not made of pkt-lines"),
        (b"+0a1", "not made of pkt-lines"),
        (b" 0a1", "not made of pkt-lines"),
        (b"0_a1", "not made of pkt-lines"),
        (command(ZERO, NEW, "refs/heads/a", CAPS), "ended before its commands did"),  # no flush
        (command(ZERO, NEW, "refs/heads/a", CAPS) + b"0000", "ended before its pack"),
        (command(ZERO, NEW, "refs/heads/a", CAPS) + b"0000PACK", "ended before its pack"),
        (command(ZERO, NEW, "refs/heads/a", CAPS) + b"0000" + b"JUNK" + bytes(8), "not a git pack"),
        (command(ZERO, NEW, "refs/heads/a", CAPS) + b"0000" + struct.pack(">4sII", b"PACK", 9, 1), "not a git pack"),
        (pkt(b"hello\n") + b"0000", "expected 'old new ref'"),
        (pkt(f"{ZERO} {NEW}\n".encode()) + b"0000", "expected 'old new ref'"),
        (pkt(f"{ZERO[:-1]} {NEW} refs/heads/a\n".encode()) + b"0000", "expected 'old new ref'"),
        (pkt(b"push-cert\0report-status\n") + b"0000", "expected 'old new ref'"),
    ],
)
def test_a_malformed_request_is_refused_with_a_reason(body, words):
    with pytest.raises(ProtocolError, match=words.replace("'", ".")):
        parse(body)


def test_a_push_option_section_is_refused():
    caps = b"\0report-status side-band-64k push-options"
    body = command(ZERO, NEW, "refs/heads/a", caps) + b"0000" + pkt(b"ci.skip\n") + b"0000" + pack_header(1)
    with pytest.raises(ProtocolError, match="push options"):
        parse(body)


def test_too_many_commands_are_counted_not_parsed_and_never_read_past_the_cap():
    many = 100_000  # about 10 MB of commands
    lines = b"".join(command(ZERO, NEW, f"refs/heads/t{n}", CAPS if n == 0 else b"") for n in range(many))
    stream = CountingStream(lines + b"0000" + pack_header(many))
    push = read_push(stream, content_length=None, max_refs=20)
    assert len(push.commands) == 21  # the first past the limit, no more
    assert not push.counted_all and 20 < push.count < many
    assert stream.taken <= MAX_COMMAND_BYTES + MAX_PKT
    [problem] = push_problems(push.commands, max_refs=20, count=push.count, counted_all=push.counted_all)
    assert problem.startswith(f"this push updates more than {push.count} refs; at most 20 can be pushed at once.")


def test_a_push_just_past_the_limit_is_counted_exactly():
    lines = b"".join(command(ZERO, NEW, f"refs/heads/t{n}", CAPS if n == 0 else b"") for n in range(25))
    push = parse(lines + b"0000" + pack_header(1))
    assert (push.count, push.counted_all, push.objects) == (25, True, None)
    [problem] = push_problems(push.commands, max_refs=20, count=push.count)
    assert problem.startswith("this push updates 25 refs; at most 20")


def test_a_command_section_over_the_cap_is_refused_without_reading_further():
    # Few commands, each as long as a pkt-line may be: the bytes are bounded, not only the count.
    long_ref = "refs/heads/" + "x" * (MAX_PKT - 200)
    lines = b"".join(command(ZERO, NEW, f"{long_ref}{n}", CAPS if n == 0 else b"") for n in range(10))
    stream = CountingStream(lines + b"0000")
    with pytest.raises(ProtocolError, match=f"longer than {MAX_COMMAND_BYTES} bytes"):
        read_push(stream, content_length=None, max_refs=20)
    assert stream.taken <= MAX_COMMAND_BYTES + MAX_PKT


def test_a_pack_header_claiming_more_objects_than_allowed_is_refused():
    body = command(ZERO, NEW, "refs/heads/a", CAPS) + b"0000" + pack_header(4_000_000_000)
    push = parse(body)
    assert object_limit_problem(push.objects, 20000) == (
        "this push adds 4000000000 objects; the limit is 20000. Push smaller changes."
    )
    assert object_limit_problem(20000, 20000) is None


def test_the_main_guard_runs_only_for_pushes_that_move_main_from_a_commit():
    assert moves_main([(OLD, NEW, "refs/heads/main")])
    assert not moves_main([(ZERO, NEW, "refs/heads/main")])  # git refuses it: main exists
    assert not moves_main([(OLD, NEW, "refs/heads/mainline"), (ZERO, NEW, "refs/heads/issue-1")])


def test_a_replay_gives_the_bytes_read_then_the_rest():
    rest = io.BytesIO(b"-the rest")
    replay = Replay(b"head", rest)
    assert replay.read(3) == b"hea"
    assert replay.read(100) == b"d"
    assert replay.read(100) == b"-the rest"
    assert replay.read(100) == b""


def _demux(answer: bytes) -> tuple[bytes, bytes, bytes]:
    """(band 1, band 2, what follows the last flush) of a side-band answer."""
    bands = {1: b"", 2: b""}
    at = 0
    while True:
        size = int(answer[at : at + 4], 16)
        if size == 0:
            return bands[1], bands[2], answer[at + 4 :]
        bands[answer[at + 4]] += answer[at + 5 : at + size]
        at += size


def test_a_refusal_is_receive_packs_own_answer_to_a_declining_hook():
    push = parse(
        command(ZERO, NEW, "refs/heads/a", CAPS) + command(ZERO, NEW, "refs/portal/keep/x") + b"0000" + pack_header(1)
    )
    report, messages, after = _demux(refusal(push, ["first reason", "second reason"]))
    assert messages == b"refused: first reason\nrefused: second reason\n"
    assert report == (
        pkt(b"unpack ok\n")
        + pkt(b"ng refs/heads/a pre-receive hook declined\n")
        + pkt(b"ng refs/portal/keep/x deny updating a hidden ref\n")
        + b"0000"
    )
    assert after == b""


def test_a_refusal_without_side_band_is_the_report_alone_and_long_messages_are_split():
    push = parse(command(ZERO, NEW, "refs/heads/a", b"\0report-status") + b"0000" + pack_header(1))
    report = pkt(b"unpack ok\n") + pkt(b"ng refs/heads/a pre-receive hook declined\n") + b"0000"
    assert refusal(push, ["not shown"]) == report
    small = parse(command(ZERO, NEW, "refs/heads/a", b"\0report-status side-band") + b"0000" + pack_header(1))
    answer = refusal(small, ["x" * 3000])
    _report, messages, _ = _demux(answer)
    assert messages == b"refused: " + b"x" * 3000 + b"\n"
    assert max(int(answer[at : at + 4], 16) for at in _offsets(answer)) <= 1000


def _offsets(answer: bytes):
    at = 0
    while at < len(answer):
        yield at
        size = int(answer[at : at + 4], 16)
        at += size or 4
