"""``python -m sandbox check`` (can this host sandbox, and with which mechanisms?) and
``python -m sandbox run DIR -- COMMAND...`` (run one command, print the Result)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .api import _host, run
from .config import SandboxConfig
from .errors import SandboxError
from .limits import Limits, MiB


def _check() -> int:
    config = SandboxConfig.from_env()
    info, plan = _host(config)
    print(f"bwrap      {info.path} {'.'.join(map(str, info.version))}")
    print(f"slots      uids {config.uid_base}-{config.uid_base + config.slots - 1}, locks in {config.state_dir}")
    for controller, where in plan.describe().items():
        print(f"cgroup     {controller:8} {where}")
    for note in plan.notes:
        print(f"note       {note}")
    with tempfile.TemporaryDirectory() as workdir:
        result = run(argv=["/bin/true"], workdir=Path(workdir), config=config)
    print(f"probe run  {result.describe()} (setup {result.setup_time * 1000:.1f} ms)")
    for limit, mechanism in result.mechanisms.items():
        print(f"  {limit:12} {mechanism}")
    return 0 if result.ok else 1


def _run(args: argparse.Namespace) -> int:
    limits = Limits(wall_time=args.wall_time, cpu_time=args.cpu_time, memory=args.memory * MiB)
    result = run(argv=args.command, workdir=Path(args.workdir), limits=limits)
    sys.stdout.buffer.write(result.stdout)
    sys.stderr.buffer.write(result.stderr)
    print(f"[sandbox] {result.describe()}", file=sys.stderr)
    return result.exit_code if result.exit_code is not None else 128 + (result.signal or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("check", help="report what this host can enforce, with one probe run")
    runner = sub.add_parser("run", help="run COMMAND over a copy of WORKDIR (copied back afterwards)")
    runner.add_argument("workdir")
    runner.add_argument("--wall-time", type=float, default=60)
    runner.add_argument("--cpu-time", type=float, default=60)
    runner.add_argument("--memory", type=int, default=512, help="MiB")
    runner.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.action == "check":
            return _check()
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("run needs a COMMAND after --")
        args.command = command
        return _run(args)
    except SandboxError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
