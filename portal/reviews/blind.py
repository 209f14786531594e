"""Blind review: on an assessment with ``blind_review`` set, reviewers' pages name no candidate.

Every page a reviewer reaches about such an invite (the queue, the report with its commits, diffs
and pull requests, the review form, the runs) goes through :func:`blind_response` before it
leaves: every string that identifies the candidate is replaced by the invite's alias
("Candidate 7F3QK"). What identifies a candidate: their name and email (and the email's local
part), and every author and committer name and email of the commits in their repository, as the
worker stored them with the branch evidence. Each is matched as written, HTML-escaped and
URL-encoded, without regard to case, so it is caught in text, attributes and links alike.

Replacing in the finished page, rather than in each template, is what makes it hold everywhere:
a section added later is scrubbed without anyone remembering to. What it cannot catch is a
candidate who writes their identity in another form (a nickname in a code comment); reviewers
are told so on the assessment's admin page help text and in docs/architecture.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from django.http import HttpResponse
from django.utils.html import escape

from portal.invites.models import Invite
from portal.scoring.selectors import commit_identities

# Shorter strings are left alone: a two-letter name part would blank out code.
MIN_LENGTH = 3
EMAIL_ALIAS = "candidate@hidden.invalid"
HIDDEN = "[hidden]"
COMMON_LOCAL_PARTS = frozenset({"admin", "contact", "dev", "hello", "info", "mail", "root", "test", "user"})


# Invite id -> (name, email) pairs.
People = dict[int, set[tuple[str, str]]]


@dataclass(frozen=True)
class Identity:
    """What to hide for one invite, and what to show instead."""

    alias: str
    names: tuple[str, ...]
    emails: tuple[str, ...]


def alias(invite: Invite) -> str:
    # The public id is random, so a few of its characters say nothing about the person.
    return f"Candidate {invite.public_id[:5].upper()}"


def is_blind(invite: Invite) -> bool:
    return invite.assessment_version.assessment.blind_review


def invite_identities(invites: Iterable[Invite], extra: People | None = None) -> list[Identity]:
    """The identities to hide for the blind ones among ``invites`` (one query for commit identities).

    ``extra``: more (name, email) pairs per invite id, for a page that shows commits it read itself.
    """
    blind = [invite for invite in invites if is_blind(invite)]
    if not blind:
        return []
    committers = commit_identities(invite_ids=[invite.pk for invite in blind])
    identities = []
    for invite in blind:
        names = {invite.candidate.name}
        emails = {invite.candidate.email}
        for name, email in committers.get(invite.pk, set()) | (extra or {}).get(invite.pk, set()):
            names.add(name)
            emails.add(email)
        # An address's local part is hidden too ("ann.example" in a log line), unless it is a word
        # so common that hiding it would blank out the page ("dev", "info", "admin").
        local_parts = {email.split("@", 1)[0] for email in emails if "@" in email} - COMMON_LOCAL_PARTS
        identities.append(
            Identity(
                alias=alias(invite),
                names=tuple(sorted({n for n in names | local_parts if len(n.strip()) >= MIN_LENGTH}, key=len)),
                emails=tuple(sorted({e for e in emails if len(e) >= MIN_LENGTH}, key=len)),
            )
        )
    return identities


def _forms(text: str) -> set[str]:
    return {text, escape(text), quote(text), quote(text, safe="")}


def scrub(content: str, identities: list[Identity]) -> str:
    """``content`` with every identifying string of ``identities`` replaced by its alias.

    One pass over the page, whatever the number of identities (a queue lists dozens): only the
    strings that occur at all (a plain substring test) go into one pattern, longest first, so an
    email is replaced whole before a name inside it could be.
    """
    shown_for: dict[str, str] = {}
    for identity in identities:
        pairs = [(e, EMAIL_ALIAS) for e in identity.emails] + [(n, identity.alias) for n in identity.names]
        for secret, shown in pairs:
            for form in _forms(secret.strip()):
                if form:
                    shown_for.setdefault(form.lower(), shown)
    lowered = content.lower()
    present = sorted((form for form in shown_for if form in lowered), key=len, reverse=True)
    if not present:
        return content
    pattern = re.compile("|".join(_bounded(form) for form in present), re.IGNORECASE)
    return pattern.sub(lambda match: shown_for.get(match.group(0).lower(), HIDDEN), content)


def _bounded(form: str) -> str:
    # Whole words only where the string starts or ends with a letter or digit: "Ann" is hidden,
    # "Annotation" is not.
    start = r"(?<!\w)" if form[0].isalnum() else ""
    end = r"(?!\w)" if form[-1].isalnum() else ""
    return start + re.escape(form) + end


def blind_response(response: HttpResponse, invites: Iterable[Invite], extra: People | None = None) -> HttpResponse:
    """Scrub a rendered reviewer page about ``invites``; untouched when none of them is blind."""
    identities = invite_identities(invites, extra)
    if not identities or getattr(response, "streaming", False):
        return response
    charset = response.charset or "utf-8"
    response.content = scrub(response.content.decode(charset), identities).encode(charset)
    return response
