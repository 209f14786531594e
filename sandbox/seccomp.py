"""A small seccomp denylist handed to bwrap (``--seccomp FD``).

It closes kernel interfaces that a test suite never needs and that are a large share of local
kernel exploits or of cross-run channels: io_uring, bpf, userfaultfd, perf events, the key
management syscalls (keyrings are per uid and not namespaced, so one run could leave data for
the next run of the same slot), kexec and module loading, and syscalls of a foreign ABI
(i386 via int 0x80, x32), which would otherwise bypass a filter written for the native one.
Denied calls fail with EPERM, so programs that probe for them (Python's asyncio, libuv) go on.
"""

from __future__ import annotations

import errno
import functools
import platform
import struct

# struct seccomp_data: int nr; __u32 arch; ...
_OFF_NR = 0
_OFF_ARCH = 4

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06

_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

# Numbers from the kernel's syscall tables.
_DENIED: dict[str, dict[str, int]] = {
    "x86_64": {
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "bpf": 321,
        "userfaultfd": 323,
        "perf_event_open": 298,
        "keyctl": 250,
        "add_key": 248,
        "request_key": 249,
        "kexec_load": 246,
        "kexec_file_load": 320,
        "init_module": 175,
        "finit_module": 313,
        "delete_module": 176,
        "open_by_handle_at": 304,
        "acct": 163,
        "swapon": 167,
        "swapoff": 168,
        "reboot": 169,
        "syslog": 103,
    },
    "aarch64": {
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "bpf": 280,
        "userfaultfd": 282,
        "perf_event_open": 241,
        "keyctl": 219,
        "add_key": 217,
        "request_key": 218,
        "kexec_load": 104,
        "kexec_file_load": 294,
        "init_module": 105,
        "finit_module": 273,
        "delete_module": 106,
        "open_by_handle_at": 265,
        "acct": 89,
        "swapon": 224,
        "swapoff": 225,
        "reboot": 142,
        "syslog": 116,
    },
}

# x32 syscalls are the x86_64 numbers with this bit set.
_X32_BIT = 0x40000000


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


@functools.cache
def denied_syscalls(machine: str | None = None) -> tuple[str, ...]:
    machine = machine or platform.machine()
    return tuple(sorted(name for name, nr in _DENIED.get(machine, {}).items() if nr >= 0))


@functools.cache
def filter_program(machine: str | None = None) -> bytes | None:
    """The BPF program for this machine, or None where we have no syscall table."""
    machine = machine or platform.machine()
    if machine not in _AUDIT_ARCH:
        return None
    numbers = sorted({nr for nr in _DENIED[machine].values() if nr >= 0})
    deny = _RET_ERRNO | errno.EPERM
    prog = [
        _insn(_BPF_LD_W_ABS, 0, 0, _OFF_ARCH),
        # Foreign ABI (e.g. i386 through int 0x80): refuse every call.
        _insn(_BPF_JEQ_K, 1, 0, _AUDIT_ARCH[machine]),
        _insn(_BPF_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS),
        _insn(_BPF_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if machine == "x86_64":
        prog += [_insn(_BPF_JGE_K, 0, 1, _X32_BIT), _insn(_BPF_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS)]
    prog += _search(numbers, deny)
    return b"".join(prog)


def _search(numbers: list[int], deny: int) -> list[bytes]:
    """A binary search over the sorted denied numbers, so an allowed syscall (nearly all of them)
    passes a handful of comparisons instead of one per denied syscall. Every block ends in a
    return, so a block never needs to jump past its sibling."""
    if len(numbers) <= 4:
        block = []
        for index, nr in enumerate(numbers):
            # On a match, jump over the remaining comparisons and the "allow" to the "deny".
            block.append(_insn(_BPF_JEQ_K, len(numbers) - index, 0, nr))
        return [*block, _insn(_BPF_RET_K, 0, 0, _RET_ALLOW), _insn(_BPF_RET_K, 0, 0, deny)]
    middle = len(numbers) // 2
    high, low = _search(numbers[middle:], deny), _search(numbers[:middle], deny)
    # nr >= pivot: fall through into the high block; else jump over it into the low block.
    return [_insn(_BPF_JGE_K, 0, len(high), numbers[middle]), *high, *low]
