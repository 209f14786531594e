"""Exceptions raised by the sandbox.

Every failure to set up isolation is an exception: the package never falls back to running
code without a sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .result import Result


class SandboxError(Exception):
    """Base class: something about the sandbox itself failed (not the code it ran)."""


class SandboxUnavailable(SandboxError):
    """This host cannot sandbox at all (bubblewrap missing, user namespaces off, not root...).

    The message always names the fix.
    """


class SandboxSetupError(SandboxError):
    """One run could not be set up (work directory too large, bwrap refused its arguments...)."""


class RuntimeBuildError(SandboxError):
    """A runtime (interpreter plus virtualenv) could not be built.

    The message keeps what says why (pip's errors); ``output`` is everything the failed step printed.
    """

    def __init__(self, message: str, *, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class ServeError(SandboxError):
    """A served app did not become ready; ``result`` holds what the stopped sandbox returned."""

    def __init__(self, message: str, *, result: Result | None = None) -> None:
        super().__init__(message)
        self.result = result
