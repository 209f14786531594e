"""One way to play a tree of the project: the steps validation and scoring share.

    played = play(runner, tree, seeds=[seed], hidden=lambda app, seed: run_hidden_tests(app.socket, ...))

For a tree already exported (validation clones and commits the reference fixes; scoring exports
the pushed commit), in this order:

1. build: the runtime's build step in the tree itself, once per tree (``runner.build``; a no-op
   for the python and node runtimes, ``go build`` for go);
2. visible tests: the project's own tests, on the runner's copy of the tree, either alone before
   the app (VISIBLE_BEFORE: validation, which judges each step's CPU on its own) or beside it
   while the hidden tests run (VISIBLE_BESIDE: scoring, where a run takes the longer of the two);
3. the app: served (with the services the manifest declares, started by the runner beside it)
   from a copy of the tree, so that what one app writes (a SQLite file, logs) never reaches the
   visible tests, the tree or the next app;
4. the hidden tests: one run per seed against the app, stopping at a run the host starved;
5. teardown: the app, its services and the copy are gone when play() returns, however it ended.

What went wrong is kept, not raised: a build that failed (BuildError), an app that did not
start (AppStartError), hidden tests that could not complete (GraderError, OutOfTime), so each
caller says it in its own words (a validation check, a run's reason). Anything else is a bug
and propagates.

``served`` is step 3 alone, for the extra hidden runs validation makes on fresh apps.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .clock import Usage
from .local import AppStartError, BuildError
from .run import GraderError, HiddenRun, VisibleRun

VISIBLE_BEFORE = "before"
VISIBLE_BESIDE = "beside"


class Runner(Protocol):
    """Runs candidate code: the portal's sandbox in production, LocalRunner for authoring.

    A runner whose ``start_app`` serves a private copy of the directory it is given (the sandbox
    copies it into its own /work, and nothing is copied back) says so with a true class attribute
    ``serves_a_copy``: ``served`` then hands it the tree itself rather than copying it first.
    """

    def build(self, workdir: Path) -> None:
        """The runtime's build step in workdir, once per tree before the app and tests; raises BuildError."""
        ...

    def start_app(self, workdir: Path) -> AbstractContextManager[str]:
        """Start the manifest's app in workdir; the context yields its unix socket path and stops it on exit."""
        ...

    def run_visible_tests(self, workdir: Path) -> VisibleRun:
        """Run the manifest's visible test command in workdir."""
        ...

    def app_usage(self, socket_path: str) -> Usage | None:
        """What the app start_app serves on socket_path has used so far (None if not measured)."""
        ...


@dataclass(frozen=True)
class App:
    """An app served by ``served``: where the grader reaches it, and how long it took to be ready."""

    socket: str
    start_seconds: float
    runner: Runner

    def usage(self) -> Usage | None:
        """What the app has used so far (CPU, waits), read live; None if the runner does not measure it."""
        return self.runner.app_usage(self.socket)


@contextmanager
def served(runner: Runner, tree: Path) -> Iterator[App]:
    """The app of a copy of ``tree``, ready; stopped (with its services) and the copy removed on exit.

    Raises AppStartError when it does not start. Must be used from one thread for its whole life.
    A runner that ``serves_a_copy`` makes the copy itself (the sandbox's, in its /work): the tree
    is not copied twice.
    """
    if getattr(runner, "serves_a_copy", False):
        began = time.monotonic()
        with runner.start_app(tree) as socket_path:
            yield App(socket=socket_path, start_seconds=time.monotonic() - began, runner=runner)
        return
    with tempfile.TemporaryDirectory(prefix="play-") as scratch:
        app_tree = Path(scratch) / "app"
        shutil.copytree(tree, app_tree, symlinks=True)
        began = time.monotonic()
        with runner.start_app(app_tree) as socket_path:
            yield App(socket=socket_path, start_seconds=time.monotonic() - began, runner=runner)


@dataclass
class Played:
    """What playing a tree gave: whatever steps ran, and what stopped it, if anything did."""

    visible: VisibleRun | None = None
    hidden: list[HiddenRun] = field(default_factory=list)
    app_start: float | None = None  # seconds until the app was ready
    app_start_usage: Usage | None = None  # what it used to get there
    failure: BuildError | AppStartError | GraderError | None = None
    # Seconds of each step that ran: build, visible, app_start, hidden.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def starved(self) -> bool:
        """The host's other work, not the code, stopped it: an app start or a hidden run held back."""
        if self.hidden and self.hidden[-1].starved:
            return True
        return bool(getattr(self.failure, "starved", False))  # GraderError has none; OutOfTime has


def play(
    runner: Runner,
    tree: Path,
    *,
    seeds: Sequence[int],
    hidden: Callable[[App, int], HiddenRun],
    visible: str | None = VISIBLE_BESIDE,
    build: bool = True,
) -> Played:
    """Build ``tree`` (unless ``build`` is False: built before), run its visible tests (``visible``:
    VISIBLE_BEFORE, VISIBLE_BESIDE or None), serve its app and call ``hidden(app, seed)`` per seed."""
    played = Played()
    if build:
        began = time.monotonic()
        try:
            runner.build(tree)
        except BuildError as exc:
            played.failure = exc
            return played
        finally:
            played.timings["build"] = time.monotonic() - began
    if visible == VISIBLE_BEFORE:
        played.visible = _visible(runner, tree, played)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="visible-tests") as pool:
        beside = None
        try:
            with served(runner, tree) as app:
                played.app_start = played.timings["app_start"] = app.start_seconds
                played.app_start_usage = app.usage()
                if visible == VISIBLE_BESIDE:
                    # Started once the app is up: an app that never starts ends the play at its start-up limit.
                    beside = pool.submit(_visible, runner, tree, played)
                began = time.monotonic()
                try:
                    for seed in seeds:
                        run = hidden(app, seed)
                        played.hidden.append(run)
                        if run.starved:
                            break
                except GraderError as exc:
                    played.failure = exc
                played.timings["hidden"] = time.monotonic() - began
        except AppStartError as exc:
            played.failure = exc
        if beside is not None:
            played.visible = beside.result()
    return played


def _visible(runner: Runner, tree: Path, played: Played) -> VisibleRun:
    began = time.monotonic()
    try:
        return runner.run_visible_tests(tree)
    finally:
        played.timings["visible"] = time.monotonic() - began
