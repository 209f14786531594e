"""The grader version: a hash of exactly the code that decides a run's verdicts.

A run is unique per (invite, commit, grader version), so a change to any of these modules
scores every commit again, and a change anywhere else (the reaper, the analysis, the pages)
does not. The list is checked by a test: each function a run's verdict goes through is
defined in one of these modules.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from types import ModuleType

import grader.clock
import grader.concurrency
import grader.http_caps
import grader.junit
import grader.local
import grader.manifest
import grader.run
import grader.verdicts
import grader.warm
import portal.assessments.runner
import portal.core.archives
import portal.scoring.export

# What a run sees (export, archives), how the app is started and the visible tests run (runner, local),
# how the hidden tests are run and read (run, the warm interpreter they fork from, junit, manifest,
# the caps on answers and the repeats of concurrency tests), the clocks every time limit is judged on
# (clock), and the verdict rule (verdicts).
VERDICT_MODULES: tuple[ModuleType, ...] = (
    grader.clock,
    grader.concurrency,
    grader.http_caps,
    grader.junit,
    grader.local,
    grader.manifest,
    grader.run,
    grader.verdicts,
    grader.warm,
    portal.assessments.runner,
    portal.core.archives,
    portal.scoring.export,
)


def grader_sources() -> list[Path]:
    return [Path(inspect.getsourcefile(module)) for module in VERDICT_MODULES]


def grader_version() -> str:
    digest = hashlib.sha256()
    for path in grader_sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


GRADER_VERSION = grader_version()
