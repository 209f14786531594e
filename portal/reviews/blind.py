"""Blind review: on an assessment with ``blind_review`` set, reviewers' pages name no candidate.

Every page a reviewer reaches about such an invite (the queue, the report with its commits, diffs
and pull requests, the review form, the runs) goes through :func:`blind_response` before it
leaves: every string that identifies the candidate is replaced by the invite's alias
("Candidate 7F3QK"). What identifies a candidate: their name and email (and the email's local
part), and every author and committer name and email of the commits in their repository, as the
worker stored them with the branch evidence. Each is matched as written, HTML-escaped and
URL-encoded, without regard to case, so it is caught in text, attributes and links alike.

Names of any length are hidden: one or two characters are common in Chinese and Korean ("李",
"김민"). A string that short is hidden only as a token of its own, written exactly, in the text and
attribute values of a page (never in its tag or attribute names): "李" and "李 <li@example.cn>" are
hidden, "李明" and the "li" of ``<li>`` are not. Names are hidden whole, never one part of them.

Pages are not the only way out: the flash messages, the reviewers' emails and digests, the page
titles and the exports name a blind candidate by :func:`shown_name` (the alias) to begin with.

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

# Strings shorter than this are "short": hidden only as an exact token outside markup (see above).
# An email's local part that short is not hidden at all: "li" would blank out code and tags.
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


def shown_name(invite: Invite) -> str:
    """How a reviewer's message, email, title or export names the candidate: the alias when blind."""
    return alias(invite) if is_blind(invite) else _one_line(invite.candidate.name)


def _one_line(text: str) -> str:
    # The candidate typed their name: whatever spaces or line breaks it holds, it is one line.
    return " ".join(text.split())


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
        names = {_one_line(invite.candidate.name)}
        emails = {invite.candidate.email}
        for name, email in committers.get(invite.pk, set()) | (extra or {}).get(invite.pk, set()):
            names.add(_one_line(name))
            emails.add(email)
        # An address's local part is hidden too ("ann.example" in a log line), unless it is a word
        # so common that hiding it would blank out the page ("dev", "info", "admin").
        local_parts = {email.split("@", 1)[0] for email in emails if "@" in email} - COMMON_LOCAL_PARTS
        identities.append(
            Identity(
                alias=alias(invite),
                names=tuple(
                    sorted({n for n in names if n} | {p for p in local_parts if len(p) >= MIN_LENGTH}, key=len)
                ),
                emails=tuple(sorted({e for e in emails if len(e) >= MIN_LENGTH}, key=len)),
            )
        )
    return identities


def _forms(text: str) -> set[str]:
    return {text, escape(text), quote(text), quote(text, safe="")}


def scrub(content: str, identities: list[Identity], *, html: bool = True) -> str:
    """``content`` with every identifying string of ``identities`` replaced by its alias.

    One pass over the page, whatever the number of identities (a queue lists dozens): only the
    strings that occur at all (a plain substring test) go into one pattern, longest first, so an
    email is replaced whole before a name inside it could be. Short strings (a name of one or two
    characters) take a second pass, as exact tokens and, when ``html``, outside tags and attribute
    names only. ``html=False`` is for plain text (an export's cells).
    """
    shown_for: dict[str, str] = {}
    short_for: dict[str, str] = {}
    for identity in identities:
        pairs = [(e, EMAIL_ALIAS) for e in identity.emails] + [(n, identity.alias) for n in identity.names]
        for secret, shown in pairs:
            for form in _forms(secret.strip()):
                if len(form) >= MIN_LENGTH:
                    shown_for.setdefault(form.lower(), shown)
                elif form:
                    short_for.setdefault(form, shown)
    lowered = content.lower()
    present = sorted((form for form in shown_for if form in lowered), key=len, reverse=True)
    if present:
        pattern = re.compile("|".join(_bounded(form) for form in present), re.IGNORECASE)
        content = pattern.sub(lambda match: shown_for.get(match.group(0).lower(), HIDDEN), content)
    short = sorted((form for form in short_for if form in content), key=len, reverse=True)
    if not short:
        return content
    # Exact case: "Li" is hidden, the "li" of a variable is not. A token of its own: not beside a
    # letter or digit of any script, so "李" is hidden and "李明" (another name) is not.
    token = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(form) for form in short) + r")(?!\w)")

    def replace(text: str) -> str:
        return token.sub(lambda match: short_for[match.group(0)], text)

    return _outside_markup(content, replace) if html else replace(content)


# A tag, and the quoted attribute values inside one. Text a candidate typed is escaped on every
# page (no "<" of theirs reaches the markup), so a "<" starts a tag.
_TAG = re.compile(r"<[^>]*>")
_ATTRIBUTE_VALUE = re.compile(r"""("[^"]*"|'[^']*')""")


def _outside_markup(content: str, replace) -> str:
    """``replace`` applied to the text and the attribute values of an HTML page, never to tag or
    attribute names (a short name such as "Li" or "b" must not rewrite ``<li>`` or ``<b>``)."""
    parts: list[str] = []
    position = 0
    for tag in _TAG.finditer(content):
        parts.append(replace(content[position : tag.start()]))
        parts.append(_ATTRIBUTE_VALUE.sub(lambda value: replace(value.group(0)), tag.group(0)))
        position = tag.end()
    parts.append(replace(content[position:]))
    return "".join(parts)


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
