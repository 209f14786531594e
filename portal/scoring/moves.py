"""Moving invites to another version of their assessment: a corrected ticket, hidden test or fix.

An author who finds a fault in a loaded version loads a corrected one under a new label; the invites
already out are on the faulty one. Moving an invite changes the version its work is graded by:
its branch heads and starting point are scored again with the new version's hidden tests, and its
page shows the new version's instructions and tickets. Its repository is not touched: the
candidate's history stays as they pushed it, and a change to the shipped project reaches them only
if they are told (see docs/authoring.md, "Versions").

Only open invites move unless asked: a submitted one is under review, and moving it changes the
results its reviewers read. A revoked invite never moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from portal.assessments.models import Assessment, AssessmentVersion
from portal.invites.models import Event, Invite
from portal.invites.services import event_record
from portal.scoring.services import Rescore, invite_version_rescore

# A content hash given instead of a label needs at least this many characters (as git's short ids).
HASH_PREFIX_MIN = 7


class MoveRefused(ValueError):
    """The move does not apply as asked; the message says why. Nothing was moved."""


@dataclass
class InvitesMoved:
    """What a move did (or, ``dry_run``, would do)."""

    source: AssessmentVersion
    target: AssessmentVersion
    invites: list[Invite]
    dry_run: bool
    rescored: list[Rescore] = field(default_factory=list)

    def __str__(self) -> str:
        what = f"{self.source.assessment.slug} {self.source.label} -> {self.target.label}"
        if self.dry_run:
            return f"Would move {len(self.invites)} invite(s) of {what} (dry run: nothing changed)."
        queued = sum(r.queued + r.retried for r in self.rescored)
        return f"Moved {len(self.invites)} invite(s) of {what}; {queued} run(s) queued on {self.target.label}."


def _version(assessment: Assessment, name: str, *, role: str) -> AssessmentVersion:
    """The version of ``assessment`` a label (or a content hash's first characters) names."""
    versions = AssessmentVersion.objects.filter(assessment=assessment).order_by("created_at", "id")
    found = list(versions.filter(label=name))
    if not found and len(name) >= HASH_PREFIX_MIN:
        found = list(versions.filter(content_hash__startswith=name.lower()))
    if len(found) == 1:
        return found[0]
    if found:
        hashes = ", ".join(v.short_hash for v in found)
        raise MoveRefused(f"{name} names {len(found)} versions of {assessment.slug} ({hashes}); give the content hash")
    elsewhere = AssessmentVersion.objects.filter(label=name).exclude(assessment=assessment).first()
    if elsewhere is not None:
        raise MoveRefused(
            f"version {name} belongs to {elsewhere.assessment.slug}, not {assessment.slug}: an invite moves only "
            "between versions of its own assessment"
        )
    labels = ", ".join(versions.values_list("label", flat=True))
    raise MoveRefused(f"{assessment.slug} has no version {name!r} ({role}); its versions: {labels}")


def _closed(invite: Invite, *, now) -> str | None:
    """Why the invite is not open (submitted, revoked, past its time), or None."""
    if invite.status != Invite.Status.ACTIVE:
        return invite.get_status_display().lower()
    return "past its deadline or time limit" if invite.is_expired(now) else None


def _chosen(source: AssessmentVersion, *, public_ids: Iterable[str], submitted: bool, now) -> list[Invite]:
    """The invites to move: the named ones (each checked), or every open one on ``source``."""
    public_ids = list(dict.fromkeys(public_ids))
    if not public_ids:
        invites = list(
            Invite.objects.filter(assessment_version=source)
            .exclude(status=Invite.Status.REVOKED)
            .select_related("assessment_version__assessment")
            .order_by("created_at", "id")
        )
        return [i for i in invites if submitted or _closed(i, now=now) is None]
    named = {
        i.public_id: i
        for i in Invite.objects.filter(public_id__in=public_ids).select_related("assessment_version__assessment")
    }
    problems = []
    for public_id in public_ids:
        invite = named.get(public_id)
        if invite is None:
            problems.append(f"no invite {public_id!r}")
        elif invite.assessment_version.assessment_id != source.assessment_id:
            problems.append(
                f"invite {public_id} is on {invite.assessment_version.assessment.slug}, not {source.assessment.slug}: "
                "an invite moves only between versions of its own assessment"
            )
        elif invite.assessment_version_id != source.pk:
            problems.append(f"invite {public_id} is on version {invite.assessment_version.label}, not {source.label}")
        elif invite.status == Invite.Status.REVOKED:
            problems.append(f"invite {public_id} is revoked: a revoked invite never moves")
        elif (why := _closed(invite, now=now)) and not submitted:
            problems.append(f"invite {public_id} is {why}: only open invites move unless submitted ones are asked for")
    if problems:
        raise MoveRefused("; ".join(problems))
    return [named[public_id] for public_id in public_ids]


def invites_move(
    *,
    slug: str,
    source: str,
    target: str,
    public_ids: Iterable[str] = (),
    submitted: bool = False,
    by=None,
    dry_run: bool = False,
) -> InvitesMoved:
    """Move invites of the assessment ``slug`` from the version labelled ``source`` to ``target``
    (labels, or content hashes' first characters); raise MoveRefused, moving nothing, if it does not apply.

    public_ids: only these invites (each must be on ``source``); otherwise every open invite on it.
    submitted: submitted invites (and those past their time) may move too; revoked ones never do.
    Each moved invite gets a ``version_changed`` event (from, to, by) and its work is scored again
    on the new version (``invite_version_rescore``), each invite in its own transaction.
    """
    assessment = Assessment.objects.filter(slug=slug).first()
    if assessment is None:
        known = ", ".join(Assessment.objects.order_by("slug").values_list("slug", flat=True)) or "none"
        raise MoveRefused(f"no assessment {slug!r}; loaded: {known}")
    old = _version(assessment, source, role="to move from")
    new = _version(assessment, target, role="to move to")
    if old == new:
        raise MoveRefused(f"{source} and {target} are the same version of {slug} ({old.short_hash})")
    invites = _chosen(old, public_ids=public_ids, submitted=submitted, now=timezone.now())
    if not invites:
        closed = Invite.objects.filter(assessment_version=old).exclude(status=Invite.Status.REVOKED).count()
        hint = f" ({closed} submitted or past their time: ask for submitted ones to move them)" if closed else ""
        raise MoveRefused(f"no open invite of {slug} is on version {old.label}{hint}")
    moved = InvitesMoved(source=old, target=new, invites=invites, dry_run=dry_run)
    if dry_run:
        return moved
    moved.invites = []
    for invite in invites:
        rescored = _move(invite, old=old, new=new, by=by, submitted=submitted)
        if rescored is not None:
            moved.invites.append(invite)
            moved.rescored.append(rescored)
    return moved


@transaction.atomic
def _move(invite: Invite, *, old: AssessmentVersion, new: AssessmentVersion, by, submitted: bool) -> Rescore | None:
    """Move one invite and score its work again; None if it changed since it was chosen (moved, closed)."""
    locked = Invite.objects.select_for_update().get(pk=invite.pk)
    why = _closed(locked, now=timezone.now())
    if locked.assessment_version_id != old.pk or locked.status == Invite.Status.REVOKED or (why and not submitted):
        return None
    locked.assessment_version = new
    locked.save(update_fields=["assessment_version"])
    event_record(
        invite=locked,
        kind=Event.Kind.VERSION_CHANGED,
        data={
            "from": old.label,
            "to": new.label,
            "from_hash": old.content_hash,
            "to_hash": new.content_hash,
            "by": by.get_username() if by else None,
        },
    )
    invite.assessment_version = new
    return invite_version_rescore(invite=locked)
