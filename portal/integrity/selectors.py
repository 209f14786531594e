"""What pages read of similarity: one invite's closest matches (the reviewer's report) and which
invites a page of the dashboard flags.

Stored rows only: a worker compares submissions (portal.integrity.services); nothing here writes,
fingerprints or compares, so a page costs the same whatever the candidates pushed.

Everything a match shows of code is candidate-controlled text. It is bounded here (passages, lines,
characters), and the characters that could make code read other than it runs (bidirectional
overrides and isolates, other control characters) are shown as visible codes ("<U+202E>"); the
template escapes the rest.

How the other candidate is named, and whether the viewer may open their report, is the page's
decision (blind review and who may review live in the reviewers' app, above this one): the page
passes a :class:`Viewer`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from django.db.models import F, OuterRef, Subquery

from portal.assessments.models import Assessment
from portal.integrity.models import SimilarityMatch, SubmissionPrint
from portal.invites.models import Invite
from portal.scoring.selectors import ref_label

# The report shows this many matches, closest first, and says how many more there are.
MATCHES_SHOWN = 5
# Per match: passages; per side of a passage: lines, characters per line; paths.
PASSAGES_SHOWN = 10
LINES_SHOWN = 40
LINE_CHARS = 240
PATH_CHARS = 200
NAME_CHARS = 200

# Characters that reorder or hide text when displayed ("Trojan Source"): the Unicode bidirectional
# controls, and every control character but tab and newline.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class Viewer(Protocol):
    """Who reads the report, as the page knows them."""

    def name(self, other: Invite) -> str:
        """The other candidate as this viewer may see them (their alias on a blind assessment)."""

    def may_open(self, other: Invite) -> bool:
        """Whether this viewer may open the other candidate's report."""


@dataclass(frozen=True)
class Side:
    path: str
    first: int | None
    last: int | None
    text: str
    lines_left_out: int


@dataclass(frozen=True)
class Passage:
    own: Side
    other: Side


@dataclass(frozen=True)
class Match:
    percent: int
    shared: int
    flagged: bool  # at or above the assessment's similarity_flag
    # Another candidate's submission (other_public_id set), or a known solution (known set).
    other_name: str
    other_public_id: str  # "" for a known solution
    may_open: bool  # the viewer may open the other candidate's report
    known: bool
    source_url: str  # a known solution's http(s) address, or ""
    passages: list[Passage]
    passages_left_out: int
    # Where this submission's side was compared when it was compared branch by branch ("on branch
    # issue-2"), or "" for the whole submission.
    where: str = ""


@dataclass(frozen=True)
class Similarity:
    # "waiting": not submitted, nothing to compare; "computing": submitted, not compared yet;
    # "compared": compared with the others (matches may be empty: nothing close).
    state: str
    threshold_percent: int
    matches: list[Match]
    more: int  # matches with a lower score, not shown
    # The other candidates shown: a blind page hides their identities too (reviews.blind).
    others: list[Invite]


@dataclass(frozen=True)
class Flag:
    percent: int
    known: bool  # the closest match is a known solution, not another candidate


def percent(score: float) -> int:
    return round(max(0.0, min(1.0, float(score))) * 100)


def invite_similarity(*, invite: Invite, viewer: Viewer, limit: int = MATCHES_SHOWN) -> Similarity:
    """The closest matches of ``invite``, highest score first, as ``viewer`` may see them; three queries
    (plus whatever ``viewer`` asks to decide who may open what)."""
    assessment = invite.assessment_version.assessment
    threshold = assessment.similarity_flag
    if not SubmissionPrint.objects.filter(invite=invite).exists():
        state = "computing" if invite.status == Invite.Status.SUBMITTED else "waiting"
        return Similarity(state=state, threshold_percent=percent(threshold), matches=[], more=0, others=[])
    rows = list(
        SimilarityMatch.objects.filter(invite=invite)
        .select_related("other_invite__candidate", "other_invite__assessment_version__assessment", "known_solution")
        .order_by("-score", "-shared", "pk")[:limit]
    )
    total = len(rows) if len(rows) < limit else SimilarityMatch.objects.filter(invite=invite).count()
    return Similarity(
        state="compared",
        threshold_percent=percent(threshold),
        matches=[_match(row, viewer=viewer, threshold=threshold) for row in rows],
        more=total - len(rows),
        others=[row.other_invite for row in rows if row.other_invite is not None],
    )


def _match(row: SimilarityMatch, *, viewer: Viewer, threshold: float) -> Match:
    passages = row.passages if isinstance(row.passages, list) else []
    shown = [_passage(p) for p in passages[:PASSAGES_SHOWN] if isinstance(p, dict)]
    if row.other_invite is not None:
        other = row.other_invite
        name, public_id, may_open, known, url = viewer.name(other), other.public_id, viewer.may_open(other), False, ""
    else:
        solution = row.known_solution
        name, public_id, may_open, known = solution.name, "", False, True
        url = solution.source_url if solution.source_url.lower().startswith(("https://", "http://")) else ""
    return Match(
        percent=percent(row.score),
        shared=row.shared,
        flagged=row.score >= threshold,
        other_name=_bounded_line(name, NAME_CHARS),
        other_public_id=public_id,
        may_open=may_open,
        known=known,
        source_url=url,
        passages=shown,
        passages_left_out=max(0, len(passages) - len(shown)),
        where=_where(getattr(row, "ref", "")),
    )


def _where(ref) -> str:
    """A match's ref in words: "on branch issue-2"; "" for the whole submission. The branch name is
    the candidate's: bounded and its controls made visible like their code."""
    if not isinstance(ref, str) or not ref:
        return ""
    words = f"on branch {ref_label(ref)}" if ref.startswith("refs/heads/") else f"on {ref_label(ref)}"
    return _bounded_line(words, NAME_CHARS)


def _passage(raw: dict) -> Passage:
    return Passage(
        own=_side(raw.get("path"), raw.get("lines"), raw.get("text")),
        other=_side(raw.get("other_path"), raw.get("other_lines"), raw.get("other_text")),
    )


def _side(path, lines, text) -> Side:
    first, last = _span(lines)
    all_lines = (text if isinstance(text, str) else "").splitlines()
    kept = [_bounded_line(line, LINE_CHARS, keep_tabs=True) for line in all_lines[:LINES_SHOWN]]
    return Side(
        path=_bounded_line(path if isinstance(path, str) else "", PATH_CHARS),
        first=first,
        last=last,
        text="\n".join(kept),
        lines_left_out=len(all_lines) - len(kept),
    )


def _span(lines) -> tuple[int | None, int | None]:
    if isinstance(lines, list | tuple) and len(lines) == 2 and all(type(n) is int and n >= 0 for n in lines):
        return lines[0], lines[1]
    return None, None


def _bounded_line(text: str, limit: int, *, keep_tabs: bool = False) -> str:
    """One line of at most ``limit`` characters (an ellipsis says it was cut), its invisible
    controls made visible."""
    cut = text[:limit]
    shown = "".join(_visible(char, keep_tabs) for char in cut)
    return shown + ("…" if len(text) > limit else "")


def _visible(char: str, keep_tabs: bool) -> str:
    if char == "\t" and keep_tabs:
        return char
    if char in _BIDI or unicodedata.category(char) == "Cc":
        return f"<U+{ord(char):04X}>"
    return char


def similarity_flags(
    *, invite_ids: Iterable[int] | None = None, assessment: Assessment | None = None
) -> dict[int, Flag]:
    """{invite id: Flag} for the invites (of ``invite_ids``, or of ``assessment``) whose closest match
    scores at or above their assessment's ``similarity_flag``; one query whatever their number."""
    invites = Invite.objects.all()
    if invite_ids is not None:
        invites = invites.filter(pk__in=list(invite_ids))
    if assessment is not None:
        invites = invites.filter(assessment_version__assessment=assessment)
    closest = SimilarityMatch.objects.filter(invite=OuterRef("pk")).order_by("-score", "-shared", "pk")
    found = (
        invites.annotate(
            best=Subquery(closest.values("score")[:1]),
            best_known=Subquery(closest.values("known_solution")[:1]),
        )
        .filter(best__gte=F("assessment_version__assessment__similarity_flag"))
        .values_list("pk", "best", "best_known")
    )
    return {pk: Flag(percent=percent(best), known=known is not None) for pk, best, known in found}
