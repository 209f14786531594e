"""Hooks that invites call (portal.core.hooks): every event written to an invite's timeline."""

from portal.core.hooks import Hook

event_recorded = Hook(
    "invites.event_recorded",
    "called with event=<Event> for every event written to an invite's timeline, inside the "
    "transaction that writes it; webhooks and the ATS link connect to it to tell other systems, and "
    "integrity to compare a submission with the others",
)
