"""The seccomp program, checked instruction by instruction for every syscall number."""

from __future__ import annotations

import errno
import struct

import pytest

from sandbox.seccomp import _AUDIT_ARCH, _DENIED, denied_syscalls, filter_program

ALLOW = 0x7FFF0000
DENY = 0x00050000 | errno.EPERM
FOREIGN = 0x00050000 | errno.ENOSYS


def evaluate(program: bytes, *, arch: int, nr: int) -> int:
    """A classic-BPF interpreter for the four instructions the program uses."""
    insns = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    data = struct.pack("=iI", nr, arch)
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x35):  # jeq / jge #k
            hit = acc == k if code == 0x15 else acc >= k
            pc += 1 + (jt if hit else jf)
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


@pytest.mark.parametrize("machine", sorted(_AUDIT_ARCH))
def test_exactly_the_listed_syscalls_are_denied(machine: str) -> None:
    program = filter_program(machine)
    assert program is not None
    arch = _AUDIT_ARCH[machine]
    denied = set(_DENIED[machine].values())

    verdicts = {nr: evaluate(program, arch=arch, nr=nr) for nr in range(600)}

    assert {nr for nr, verdict in verdicts.items() if verdict == DENY} == denied
    assert all(verdict == ALLOW for nr, verdict in verdicts.items() if nr not in denied)
    assert len(denied_syscalls(machine)) == len(denied)


def test_foreign_abis_are_refused_entirely() -> None:
    program = filter_program("x86_64")
    assert program is not None

    i386 = 0x40000003
    assert evaluate(program, arch=i386, nr=39) == FOREIGN  # even getpid
    assert evaluate(program, arch=_AUDIT_ARCH["x86_64"], nr=0x40000000 + 39) == FOREIGN  # x32
    assert evaluate(program, arch=_AUDIT_ARCH["x86_64"], nr=39) == ALLOW
    assert filter_program("riscv64") is None
