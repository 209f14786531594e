"""Demo candidates for a local run: a pipeline with someone at every stage, so a first sign-in shows a
living dashboard rather than "No candidates yet".

Every step goes through the portal's own services (invite_open, invite_opened_record,
fetch_record, push_record with push_score, invite_submit, invite_revoke), so what the dashboard,
the candidate pages and the workers see is what real candidates would leave behind. Pushes are
made with plumbing: each commit is built in a temporary index from the starting point and a patch,
the branch is moved with ``update-ref`` under the repository's push lock, the commit gets its
keep-ref, then the push is recorded and handed to scoring exactly as the git view does after
``git http-backend`` accepted one (portal.hosting.views). The push hooks do not run: their policy
(closed invites, main rewritten, refs outside branches and tags, object counts) has nothing to
refuse in these pushes, and the keep-refs their post-receive step writes are written here.

Demo candidates are recognised by their email domain, ``DEMO_DOMAIN``. Seeding is idempotent per
candidate: one whose email already has an invite is left as it is, so a second run adds nothing,
and a demo candidate deleted by hand is seeded again. Each candidate is seeded in one transaction
(its repository is removed if that fails), so a failure never leaves half a candidate behind.

Demo-only: the expired candidate is invited with a deadline in the future (invites cannot be
created closed) and its deadline is then moved into the past by a direct update, which nothing
else in the portal does. The scheduler of a running portal then submits it within a minute, as
it does every invite whose time is over (portal.invites.services.invites_close_expired).
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

import gitplumbing
from portal.assessments.models import AssessmentVersion
from portal.assessments.services import version_manifest
from portal.hosting.gitrepo import keep_commits
from portal.hosting.services import (
    bundle_path,
    fetch_record,
    invite_open,
    push_lock,
    push_record,
    repository_path,
)
from portal.invites.models import Invite
from portal.invites.services import candidate_get_or_create, invite_opened_record, invite_revoke, invite_submit
from portal.pipeline.selectors import STAGES, pipeline_invites
from portal.scoring.models import Run
from portal.scoring.services import push_score

DEMO_DOMAIN = "demo.example.org"
# Long enough that the demo stays open for a few weeks of trying the portal.
DEMO_DEADLINE = timedelta(days=21)
DEMO_USER_AGENT = "seed_demo"

# A plausible half fix of ticket 1: pages no longer overlap, but has_next is wrong when the last
# page is exactly full (the hidden tests of ticket 1 catch it). Applied like a reference patch.
PARTIAL_FIX_TICKET_1 = b"""\
--- a/app/crud.py
+++ b/app/crud.py
@@ -68,4 +68,4 @@
     # One row more than asked for tells whether there is a next page.
-    rows = db.scalars(stmt.offset((page - 1) * page_size).limit(page_size + 1)).all()
-    has_next = len(rows) > page_size
+    rows = db.scalars(stmt.offset((page - 1) * page_size).limit(page_size)).all()
+    has_next = len(rows) == page_size
     return list(rows), has_next
"""


class DemoSeedError(RuntimeError):
    """The demo pipeline could not be made for this assessment version (the message says why)."""


@dataclass(frozen=True)
class DemoCandidate:
    name: str
    email: str
    stage: str  # where the dashboard shows the candidate now (portal.pipeline.selectors.STAGES)
    public_id: str
    created: bool  # False: the candidate had an invite already and was left alone
    runs_queued: int = 0


@dataclass(frozen=True)
class _Fix:
    branch: str
    ticket: int
    summary: str
    reference: bool = True  # the ticket's reference patch; otherwise PARTIAL_FIX_TICKET_1


@dataclass(frozen=True)
class _Plan:
    name: str
    local_part: str
    stage: str
    pushes: tuple[tuple[_Fix, ...], ...] = ()  # one tuple per push, each fix on its own branch
    time_limit: timedelta | None = None

    @property
    def email(self) -> str:
        return f"{self.local_part}@{DEMO_DOMAIN}"


_PLANS: tuple[_Plan, ...] = (
    _Plan("Maya Lindqvist", "maya.lindqvist", "invited"),
    # A time limit whose clock has not started: the dashboard says so.
    _Plan("Omar Haddad", "omar.haddad", "invited", time_limit=timedelta(hours=4)),
    _Plan("Lena Fischer", "lena.fischer", "opened"),
    _Plan("Tomás Ortega", "tomas.ortega", "cloned"),
    _Plan(
        "Aiko Tanaka",
        "aiko.tanaka",
        "pushed",
        pushes=((_Fix("issue-1", 1, "Return only the rows of the page asked for"),),),
    ),
    _Plan(
        "Sam Okafor",
        "sam.okafor",
        "pushed",
        pushes=((_Fix("issue-1", 1, "Fetch one page of rows only", reference=False),),),
    ),
    _Plan(
        "Priya Raman",
        "priya.raman",
        "submitted",
        pushes=(
            (_Fix("issue-1", 1, "Return only the rows of the page asked for"),),
            (_Fix("issue-2", 2, "Answer 404 for a book that does not exist"),),
        ),
    ),
    _Plan("Jonas Weber", "jonas.weber", "expired"),
    _Plan("Chloé Martin", "chloe.martin", "revoked"),
)


def demo_pipeline_seed(
    *, version: AssessmentVersion, now: datetime | None = None, created_by=None
) -> list[DemoCandidate]:
    """Invite the demo candidates that have no invite yet and take each to its stage.

    Returns every demo candidate, created now or before (``created`` tells which), at the stage the
    dashboard shows now: one seeded earlier may have moved on (scored, or submitted once its time ran
    out). Pushes queue scoring runs on commit, which a worker scores.
    """
    now = now or timezone.now()
    patches = _patches(version)
    seeded = [
        _existing(plan) or _seed_one(plan, version=version, now=now, created_by=created_by, patches=patches)
        for plan in _PLANS
    ]
    ranks = dict(
        pipeline_invites(now=now)
        .filter(public_id__in=[c.public_id for c in seeded])
        .values_list("public_id", "stage_rank")
    )
    return [replace(c, stage=STAGES[ranks[c.public_id]]) for c in seeded]


def _patches(version: AssessmentVersion) -> dict[_Fix, bytes]:
    """Every demo fix's patch, read before anything is created: a version without them seeds nothing."""
    manifest = version_manifest(version)
    patches = {}
    for fix in {fix for plan in _PLANS for push in plan.pushes for fix in push}:
        if not fix.reference:
            patches[fix] = PARTIAL_FIX_TICKET_1
            continue
        try:
            patches[fix] = manifest.patch_path(fix.ticket).read_bytes()
        except (KeyError, OSError) as exc:
            raise DemoSeedError(f"{version} has no reference fix for ticket #{fix.ticket}: {exc}") from exc
    return patches


def _existing(plan: _Plan) -> DemoCandidate | None:
    invite = Invite.objects.filter(candidate__email__iexact=plan.email).order_by("created_at").first()
    if invite is None:
        return None
    return DemoCandidate(
        name=invite.candidate.name, email=plan.email, stage=plan.stage, public_id=invite.public_id, created=False
    )


def _seed_one(plan: _Plan, *, version, now, created_by, patches: dict[_Fix, bytes]) -> DemoCandidate:
    invite = None
    try:
        with transaction.atomic():
            candidate = candidate_get_or_create(name=plan.name, email=plan.email, created_by=created_by)
            invite = invite_open(
                candidate=candidate,
                assessment_version=version,
                deadline=None if plan.time_limit else now + DEMO_DEADLINE,
                time_limit=plan.time_limit,
                created_by=created_by,
            ).invite
            _STEPS[plan.stage](invite, plan=plan, patches=patches, by=created_by)
            if plan.stage == "expired":
                # Demo-only (see the module docstring): invites are never created closed.
                Invite.objects.filter(pk=invite.pk).update(deadline=now - timedelta(hours=1))
            runs = Run.objects.filter(invite=invite, status=Run.Status.QUEUED).count()
    except BaseException:
        if invite is not None:
            # The rows are rolled back; the repository and bundle on disk are not.
            shutil.rmtree(repository_path(invite), ignore_errors=True)
            bundle_path(invite).unlink(missing_ok=True)
        raise
    return DemoCandidate(
        name=plan.name, email=plan.email, stage=plan.stage, public_id=invite.public_id, created=True, runs_queued=runs
    )


def _invited(invite: Invite, **_) -> None:
    """Nothing more: the link was sent and never opened."""


def _opened(invite: Invite, **_) -> None:
    invite_opened_record(invite=invite)


def _cloned(invite: Invite, **kwargs) -> None:
    _opened(invite)
    fetch_record(invite=invite, address=None)


def _pushed(invite: Invite, *, plan: _Plan, patches: dict[_Fix, bytes], **kwargs) -> None:
    _cloned(invite)
    for fixes in plan.pushes:
        _push(invite, plan=plan, fixes=fixes, patches=patches)


def _submitted(invite: Invite, **kwargs) -> None:
    _pushed(invite, **kwargs)
    invite_submit(invite=invite)


def _expired(invite: Invite, **kwargs) -> None:
    _cloned(invite)


def _revoked(invite: Invite, *, by=None, **kwargs) -> None:
    _opened(invite)
    invite_revoke(invite=invite, by=by)


_STEPS: dict[str, Callable[..., None]] = {
    "invited": _invited,
    "opened": _opened,
    "cloned": _cloned,
    "pushed": _pushed,
    "submitted": _submitted,
    "expired": _expired,
    "revoked": _revoked,
}


def _push(invite: Invite, *, plan: _Plan, fixes: tuple[_Fix, ...], patches: dict[_Fix, bytes]) -> None:
    """One push of a commit per fix, each on its branch from the starting point; recorded and scored
    as the git view records and scores an accepted push."""
    path = repository_path(invite)
    base = invite.repository.base_commit
    heads = gitplumbing.heads(path)
    with push_lock(invite):
        updates = []
        for fix in fixes:
            commit = _commit_patch(
                path,
                parent=base,
                patch=patches[fix],
                author=(plan.name, plan.email),
                message=f"Fix: Resolve issue #{fix.ticket} - {fix.summary}",
            )
            updates.append((heads.get(fix.branch, gitplumbing.ZERO_SHA), commit, f"refs/heads/{fix.branch}"))
        gitplumbing.update_refs(path, "".join(f"update {ref} {new} {old}\n" for old, new, ref in updates))
        keep_commits(path, [new for _, new, _ in updates])
        push = push_record(invite=invite, updates=updates, address=None, user_agent=DEMO_USER_AGENT)
        push_score(push=push)


def _commit_patch(path: Path, *, parent: str, patch: bytes, author: tuple[str, str], message: str) -> str:
    """A commit of ``parent`` with ``patch`` applied, built in a throwaway index (no working copy)."""
    # Inside the repository, as repository_init does: git writes it as the repository's owner.
    index = path / f"portal-demo-{secrets.token_hex(8)}.index"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        gitplumbing.run("read-tree", parent, git_dir=path, env=env)
        try:
            gitplumbing.run("apply", "--cached", "-", git_dir=path, env=env, input=patch)
        except gitplumbing.GitError as exc:
            raise DemoSeedError(f"a demo fix does not apply to this assessment's starting point: {exc}") from exc
        tree = gitplumbing.text("write-tree", git_dir=path, env=env)
    finally:
        index.unlink(missing_ok=True)
    name, email = author
    return gitplumbing.text(
        "commit-tree", tree, "-p", parent, "-m", message, git_dir=path, env=gitplumbing.identity_env(name, email)
    )
