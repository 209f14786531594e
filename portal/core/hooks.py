"""Named hooks: how a lower app hands an event to a higher one without importing it.

Apps depend one way (see pyproject.toml's layers). Where something that happens low down must
reach an app above it (a push recorded by git hosting must be scored), the lower app declares a
hook in its ``hooks.py`` and calls it; the higher app connects its receiver in ``AppConfig.ready``.
Every hook the portal has is listed in ``HOOKS`` with who calls it and who answers, and a system
check (``portal.core.checks``) refuses to start when a required hook has no receiver, so a
misconfigured install fails at start-up rather than silently ignoring pushes.

Unlike Django signals, a receiver's exception is never swallowed: it propagates to the caller,
which runs receivers inside its own transaction (a push whose scoring cannot be queued is not
recorded half-way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

HOOKS: dict[str, Hook] = {}


@dataclass(eq=False)
class Hook:
    """A call from a lower app to whichever higher apps connected to it."""

    name: str
    doc: str
    required: bool = False
    receivers: list[Callable[..., object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.name in HOOKS:
            raise ValueError(f"hook {self.name!r} is declared twice")
        HOOKS[self.name] = self

    def connect(self, receiver: Callable[..., object]) -> Callable[..., object]:
        """Add ``receiver`` (once; connecting again is a no-op, as ``ready()`` may run twice in tests)."""
        if receiver not in self.receivers:
            self.receivers.append(receiver)
        return receiver

    def disconnect(self, receiver: Callable[..., object]) -> None:
        if receiver in self.receivers:
            self.receivers.remove(receiver)

    def __call__(self, **kwargs) -> None:
        """Call every receiver, in the order they connected, with the caller's keyword arguments."""
        if self.required and not self.receivers:
            raise RuntimeError(f"hook {self.name} has no receiver: {self.doc}")
        for receiver in list(self.receivers):
            receiver(**kwargs)

    def describe(self) -> str:
        names = ", ".join(f"{r.__module__}.{r.__qualname__}" for r in self.receivers) or "(none)"
        return f"{self.name} -> {names}"
