"""Hooks that git hosting calls (portal.core.hooks): how a recorded push reaches scoring."""

from portal.core.hooks import Hook

push_recorded = Hook(
    "hosting.push_recorded",
    "called with push=<Push> for every recorded push, inside the transaction that records it; "
    "portal.scoring connects push_score, which queues the push's runs",
    required=True,
)
