"""Framework-free grader shared by every assessment package (no Django or portal import in here).

- load_manifest(dir) reads assessment.toml, refusing keys it does not know (naming the nearest),
  a Python the host cannot build runtimes with, and a source folder that is not there.
- grader.plugin is the hidden tests' contract, a pytest plugin loaded into every hidden run: the
  app's address, the seed, the deadlines, and the reporting of the ticket and guard markers.
- grade(socket_path, tickets=None) runs the hidden tests, in this trusted process's
  interpreter, against a candidate app that already serves on a unix socket, and
  returns one TestOutcome per test (run_hidden_tests gives the timing and output too);
  ticket_verdicts(manifest, outcomes) turns them into one verdict per ticket.
- validate(dir, python=..., runner=...) proves the assessment end to end and returns
  a ValidationReport whose table() prints the checks.
- LocalRunner starts the app and runs the visible tests as plain local subprocesses,
  for authoring; the portal plugs in its sandbox instead (see validate.Runner).
- Every time limit is judged on the CPU and own time a run used, the wall clock being only
  a safety net (grader.clock), so a busy host fails nothing.
"""

from .junit import TestOutcome, parse_junit
from .local import AppStartError, LocalRunner, wait_until_ready
from .manifest import DEFAULT_ASSESSMENT_DIR, AppSpec, Manifest, ManifestError, Ticket, load_manifest
from .play import Runner
from .run import GraderError, HiddenRun, VisibleRun, grade, run_hidden_tests
from .validate import Check, ValidationReport, validate
from .verdicts import TicketVerdict, ticket_verdicts

__all__ = [
    "DEFAULT_ASSESSMENT_DIR",
    "AppSpec",
    "AppStartError",
    "Check",
    "GraderError",
    "HiddenRun",
    "LocalRunner",
    "Manifest",
    "ManifestError",
    "Runner",
    "TestOutcome",
    "Ticket",
    "TicketVerdict",
    "ValidationReport",
    "VisibleRun",
    "grade",
    "load_manifest",
    "parse_junit",
    "run_hidden_tests",
    "ticket_verdicts",
    "validate",
    "wait_until_ready",
]
