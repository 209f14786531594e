"""Command line of the grader.

    python -m grader validate --python /path/to/venv/bin/python
    python -m grader grade --socket /path/app.sock [--ticket 3] [--seed 1234] [--junit out.xml] [--json]
    python -m grader serve --python /path/to/venv/bin/python --tree /path/to/candidate/tree

validate runs the candidate code as plain local subprocesses: for authoring only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path

from .local import LocalRunner
from .manifest import DEFAULT_ASSESSMENT_DIR, ManifestError, load_manifest
from .run import GraderError, check_seed, run_hidden_tests
from .validate import validate


def _grade(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.assessment)
    run = run_hidden_tests(
        args.socket, args.ticket or None, manifest=manifest, base_url=args.url, junit_path=args.junit, seed=args.seed
    )
    if args.json:
        print(json.dumps([{k: v for k, v in asdict(o).items() if k != "properties"} for o in run.outcomes], indent=2))
        print(f"seed {run.seed}", file=sys.stderr)
    else:
        for ticket in manifest.tickets:
            outcomes = [o for o in run.outcomes if o.ticket == ticket.number]
            if not outcomes:
                continue
            passed = sum(o.passed for o in outcomes)
            print(f"#{ticket.number} {ticket.title}: {passed}/{len(outcomes)} passed")
            for outcome in outcomes:
                line = f"    {outcome.outcome:<7} {outcome.test_id} ({outcome.duration:.2f} s)"
                print(line if outcome.passed else f"{line}\n            {outcome.message.splitlines()[0][:160]}")
        used = run.usage.describe() if run.usage else f"{run.duration:.2f} s"
        print(f"hidden suite: {used}, seed {run.seed} (a fresh app and --seed {run.seed} replay it)")
    return 0 if all(o.passed for o in run.outcomes) else 1


def _validate(args: argparse.Namespace) -> int:
    report = validate(
        args.assessment,
        python=args.python,
        jobs=args.jobs,
        keep=args.keep,
        seed=args.seed,
        flake_runs=args.flake_runs,
        progress=(lambda line: print(line, file=sys.stderr, flush=True)) if args.verbose else None,
    )
    print(report.table(verbose=args.verbose))
    if report.workdir:
        print(f"Repositories kept in {report.workdir}")
    return 0 if report.ok else 1


def _seed(text: str) -> int:
    """A --seed value: the grader's own check, as argparse's error."""
    try:
        return check_seed(int(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc) if "seed" in str(exc) else f"not a whole number: {text!r}") from None


def _runs(text: str) -> int:
    """A --flake-runs value: a whole number from 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number from 0: {text!r}")
    return int(text)


def _stop(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.assessment)
    # Stop cleanly, app included, on TERM and on INT (which background jobs ignore).
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with LocalRunner(manifest, args.python).start_app(Path(args.tree).resolve()) as socket_path:
        print(f"serving on {socket_path}; Ctrl-C stops", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            if args.wait_stdin:
                sys.stdin.read()
            else:
                signal.pause()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.split("\n")[0])
    parser.add_argument("--assessment", default=str(DEFAULT_ASSESSMENT_DIR), help="folder of assessment.toml")
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="run the hidden tests against an app that is serving")
    target = grade.add_mutually_exclusive_group(required=True)
    target.add_argument("--socket", help="the app's unix socket")
    target.add_argument("--url", help="the app's base URL (authoring)")
    grade.add_argument("--ticket", type=int, action="append", help="only this ticket (repeatable)")
    grade.add_argument("--seed", type=_seed, help="seed of the tests' order and data (default: a fresh one)")
    grade.add_argument("--junit", help="also keep the JUnit XML report here")
    grade.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    grade.set_defaults(handler=_grade)

    check = commands.add_parser("validate", help="prove the assessment end to end (local subprocesses)")
    check.add_argument("--python", default=sys.executable, help="interpreter with the project's requirements")
    check.add_argument("--jobs", type=int, default=2, help="project states played at the same time")
    check.add_argument("--keep", action="store_true", help="keep the temporary repositories")
    check.add_argument("--seed", type=_seed, help="seed of the hidden tests' data and order (default: a fresh one)")
    check.add_argument(
        "--flake-runs", type=_runs, help="runs of the search for flaky tests (default: the manifest's flake_runs)"
    )
    check.add_argument("-v", "--verbose", action="store_true", help="print each step as it ends, and details uncut")
    check.set_defaults(handler=_validate)

    serve = commands.add_parser("serve", help="serve a tree's app on a unix socket until Ctrl-C (authoring)")
    serve.add_argument("--python", default=sys.executable, help="interpreter with the project's requirements")
    serve.add_argument("--tree", required=True, help="a copy of the project tree (the app writes its database there)")
    serve.add_argument("--wait-stdin", action="store_true", help="stop at end of standard input instead")
    serve.set_defaults(handler=_serve)

    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ManifestError, GraderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
