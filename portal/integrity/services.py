"""Similarity between submissions, and with known leaked solutions: computed by a worker, stored for pages.

1. A submitted invite (the ``invites.event_recorded`` hook, kind "submitted") queues
   ``integrity.compare`` on commit.
2. The task reads the candidate's changed files (portal.integrity.submissions), fingerprints them
   with the version's boilerplate left out (the shipped project and the reference fixes' post-images)
   and stores them (SubmissionPrint ref "": a rerun replaces it); and the same for each issue-<n>
   branch of one of the version's tickets on its own (ref "refs/heads/issue-<n>").
3. It compares the whole print with every other whole print of the same assessment, each branch's
   print with the same ticket's branch of every other submission (other tickets change other code),
   and each print with every known solution of the assessment's versions; it stores a
   SimilarityMatch per direction and ref for each score of at least MATCH_FLOOR, replacing what an
   earlier computation stored for the same pairs. A ticket's fix copied alone scores low in a large
   whole submission (the smaller side's share is what scores) and high on its branch.

The prints are committed before the others are read: of two submissions compared at the same
moment, at least one sees the other, and the rows of a pair are the same whichever writes them.

The broker never loses one: a submission whose check was never sent (the broker was down) or whose
task was lost is sent again by the sweep (``integrity.sweep``, every RESEND_AFTER), at most once per
RESEND_AFTER while no print is stored and its attempts are not exhausted.

A known solution is added by an author (``manage.py known_solution``); every existing submission of
its assessment is then compared with it (``integrity.compare_known``). Nothing here changes a score.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.functions import Cast
from django.utils import timezone

import gitplumbing
from portal.assessments.models import AssessmentVersion
from portal.assessments.services import version_manifest, version_package
from portal.core.dispatch import send_on_commit
from portal.core.models import TaskAttempt
from portal.core.services import AttemptsExhausted, task_attempt_begin, task_attempt_clear
from portal.hosting.services import repository_path
from portal.integrity.fingerprints import (
    MAX_FILE_BYTES,
    MAX_FILES,
    Prints,
    compare,
    fingerprint,
    hashes_of,
    overlap,
    readable_files,
)
from portal.integrity.models import KnownSolution, SimilarityMatch, SubmissionPrint
from portal.integrity.submissions import branch_heads, changes_read, submission_read
from portal.invites.models import Event, Invite
from portal.scoring.models import InviteAnalysis

logger = logging.getLogger(__name__)

TASK_COMPARE = "integrity.compare"
TASK_COMPARE_KNOWN = "integrity.compare_known"
# A submission that stopped the worker this often (killed mid-task) is not tried again.
MAX_ATTEMPTS = 3
# Scores below this are not kept: a few shared lines of routine code are no evidence.
MATCH_FLOOR = 0.05
# The closest matches kept per submission, with other submissions (known solutions are few).
MAX_MATCHES = 50
# A submission with no print this long after it was submitted (or after its last attempt) is sent
# again by the sweep, which beat sends this often; at most SWEEP_BATCH at a time.
RESEND_AFTER = timedelta(minutes=5)
SWEEP_BATCH = 100


class KnownSolutionError(ValueError):
    """A known solution that cannot be stored, with the sentence that says why; nothing was changed."""


def invite_event_recorded(*, event: Event) -> None:
    """Receiver of invites.event_recorded: a submitted invite is compared with the others, by a worker."""
    if event.kind == Event.Kind.SUBMITTED:
        send_on_commit(TASK_COMPARE, invite_id=event.invite_id)


def integrity_sweep(*, now=None) -> int:
    """Send the check again for submissions with no print: never sent, or its task lost; how many."""
    now = now or timezone.now()
    cutoff = now - RESEND_AFTER
    attempts = TaskAttempt.objects.filter(task=TASK_COMPARE, key=Cast(OuterRef("pk"), CharField()))
    due = list(
        Invite.objects.filter(status=Invite.Status.SUBMITTED, submitted_at__lt=cutoff, similarity_prints__isnull=True)
        .exclude(Exists(attempts.filter(Q(attempts__gte=MAX_ATTEMPTS) | Q(last_started_at__gte=cutoff))))
        .order_by("submitted_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for invite_id in due:
        send_on_commit(TASK_COMPARE, invite_id=invite_id)
    if due:
        logger.warning("similarity of %d submitted invites sent again: no print after %s", len(due), RESEND_AFTER)
    return len(due)


# Boilerplate: what every honest submission shares with the shipped project and the reference fixes.


@lru_cache(maxsize=16)
def _boilerplate(content_hash: str, package: str, shipped_subdir: str, patches: tuple[str, ...]) -> frozenset[int]:
    shipped = Path(package) / shipped_subdir
    hashes = hashes_of(project_files(shipped))
    for patch in patches:
        hashes |= hashes_of(patch_post_image(shipped, Path(patch).read_bytes()))
    return frozenset(hashes)


def version_boilerplate(version: AssessmentVersion) -> frozenset[int]:
    """The fingerprints of the version's shipped project and of its reference fixes' post-images
    (computed once per version and process: a version never changes)."""
    manifest = version_manifest(version)
    package = version_package(version)
    patches = tuple(str(manifest.patch_path(ticket.number)) for ticket in manifest.tickets)
    return _boilerplate(version.content_hash, str(package), version.shipped_subdir, patches)


def project_files(folder: Path) -> dict[str, str]:
    """The text files of a project folder (no links, no .git), within the fingerprint caps."""
    raw: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if ".git" in relative.parts or path.is_symlink() or not path.is_file():
            continue
        if len(raw) >= MAX_FILES * 10:
            break
        if path.stat().st_size <= MAX_FILE_BYTES:
            raw[relative.as_posix()] = path.read_bytes()
    return readable_files(raw)[0]


def patch_post_image(shipped: Path, patch: bytes) -> dict[str, str]:
    """The files ``patch`` adds or changes, as they are once it is applied to ``shipped``.

    Applied by ``git apply`` in a scratch repository holding only the files it touches: paths
    outside it and writes through links are refused by git; KnownSolutionError if it does not apply.
    """
    with tempfile.TemporaryDirectory(prefix="portal-patch-") as scratch:
        tree = Path(scratch)
        gitplumbing.run("init", "-q", str(tree))
        listed = gitplumbing.run("apply", "--numstat", "-z", "-", cwd=tree, input=patch, check=False)
        if not listed.ok:
            raise KnownSolutionError(f"the patch cannot be read: {listed.stderr.decode(errors='replace').strip()}")
        names = [entry.split(b"\t", 2)[2].decode(errors="replace") for entry in listed.stdout.split(b"\0") if entry]
        for name in names:
            source = shipped / name
            if source.is_file() and not source.is_symlink() and source.resolve().is_relative_to(shipped.resolve()):
                (tree / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, tree / name)
        applied = gitplumbing.run("apply", "-", cwd=tree, input=patch, check=False)
        if not applied.ok:
            raise KnownSolutionError(
                f"the patch does not apply to the shipped project: {applied.stderr.decode(errors='replace').strip()}"
            )
        raw = {}
        for name in names:
            path = tree / name
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_FILE_BYTES:
                raw[name] = path.read_bytes()
        return readable_files(raw)[0]


# A submission's prints and their matches.


def submission_prints_store(*, invite: Invite) -> list[SubmissionPrint]:
    """Fingerprint the invite's changes as they are now, whole and per ticket's branch, and store
    them (replacing earlier prints, deleting those of branches gone); the whole one first.

    git is read outside any transaction: only the invite's print rows are written, in one."""
    integrated = None
    analysis = InviteAnalysis.objects.filter(invite=invite).values_list("result", flat=True).first()
    if analysis:
        integrated = (analysis.get("integration") or {}).get("commit")
    path, base = repository_path(invite), invite.repository.base_commit
    boilerplate = version_boilerplate(invite.assessment_version)
    tickets = {ticket.number for ticket in version_manifest(invite.assessment_version).tickets}
    memo: dict = {}  # the files a branch shares with the whole submission are lexed once

    def prints_of(ref: str, submission) -> dict:
        files, _ = readable_files(submission.files)
        prints = fingerprint(files, boilerplate=boilerplate, memo=memo)
        return {"ref": ref, "commit": submission.commit, "files": prints.files, "fingerprints": prints.to_json()}

    made = [prints_of("", submission_read(path=path, base=base, integrated=integrated))]
    # Only the version's tickets: a branch named for no ticket has nothing of the same ticket to meet.
    for ticket, (ref, head) in branch_heads(path=path).items():
        if ticket in tickets and head != base:
            made.append(prints_of(ref, changes_read(path=path, base=base, commits=[head])))
    stored = []
    with transaction.atomic():
        for values in made:
            row, _ = SubmissionPrint.objects.update_or_create(
                invite=invite,
                ref=values.pop("ref"),
                defaults={"assessment_id": invite.assessment_version.assessment_id, **values},
            )
            stored.append(row)
        SubmissionPrint.objects.filter(invite=invite).exclude(pk__in=[row.pk for row in stored]).delete()
    return stored


def invite_compare(*, invite_id: int) -> int:
    """The task's work: fingerprint the invite, compare it, store the matches; the rows kept.

    Counted (TaskAttempt): a submission that stopped the worker MAX_ATTEMPTS times is given up.
    """
    invite = Invite.objects.select_related("assessment_version", "repository").filter(pk=invite_id).first()
    if invite is None or invite.status != Invite.Status.SUBMITTED:
        return 0
    try:
        task_attempt_begin(task=TASK_COMPARE, key=str(invite_id), max_attempts=MAX_ATTEMPTS)
    except AttemptsExhausted as exc:
        logger.error("similarity of invite %s not computed: %s", invite_id, exc)
        return 0
    stored = submission_prints_store(invite=invite)
    kept = matches_update(prints=stored)
    task_attempt_clear(task=TASK_COMPARE, key=str(invite_id))
    return kept


def _prints(submission: SubmissionPrint | KnownSolution) -> Prints:
    return Prints.from_json(submission.fingerprints, submission.files)


def _hashes(fingerprints: Iterable) -> set[int]:
    return {int(entry[0]) for entry in fingerprints}


def matches_update(*, prints: list[SubmissionPrint]) -> int:
    """Compare one invite's prints (whole and per branch) with the other submissions' prints of the
    same ref and with every known solution; store the matches at or above MATCH_FLOOR both ways and
    drop this invite's older ones; the rows kept."""
    if not prints:
        return 0
    invite_id, assessment_id = prints[0].invite_id, prints[0].assessment_id
    known = list(KnownSolution.objects.filter(assessment_version__assessment_id=assessment_id))
    rows = []
    for submission in prints:
        mine = _prints(submission)
        rows += _pair_rows(submission, mine)
        for solution in known:
            ours = compare(mine, _prints(solution))
            if ours.score >= MATCH_FLOOR:
                rows.append(_match(invite_id, ours, known_solution_id=solution.pk, ref=submission.ref))
    kept = {(row.invite_id, row.other_invite_id, row.known_solution_id, row.ref) for row in rows}
    with transaction.atomic():
        existing = SimilarityMatch.objects.filter(Q(invite_id=invite_id) | Q(other_invite_id=invite_id))
        stale = [
            pk
            for pk, *key in existing.values_list("pk", "invite_id", "other_invite_id", "known_solution_id", "ref")
            if tuple(key) not in kept
        ]
        SimilarityMatch.objects.filter(pk__in=stale).delete()
        _upsert(rows)
    return len(rows)


def _pair_rows(submission: SubmissionPrint, mine: Prints) -> list[SimilarityMatch]:
    """Both directions' rows of ``submission`` with the closest other prints of its assessment and ref
    (set intersection over all of them, passages for the MAX_MATCHES closest only)."""
    hashes = set(mine.places)
    if not hashes:
        return []
    scores = []
    others = (
        SubmissionPrint.objects.filter(assessment_id=submission.assessment_id, ref=submission.ref)
        .exclude(invite_id=submission.invite_id)
        .values_list("pk", "fingerprints")
    )
    for pk, fingerprints in others.iterator(chunk_size=200):
        score, _ = overlap(hashes, _hashes(fingerprints))
        if score >= MATCH_FLOOR:
            scores.append((score, pk))
    closest = [pk for _, pk in sorted(scores, reverse=True)[:MAX_MATCHES]]
    rows = []
    for other in SubmissionPrint.objects.filter(pk__in=closest):
        theirs = _prints(other)
        ref = submission.ref
        rows.append(_match(submission.invite_id, compare(mine, theirs), other_invite_id=other.invite_id, ref=ref))
        rows.append(_match(other.invite_id, compare(theirs, mine), other_invite_id=submission.invite_id, ref=ref))
    return rows


def _match(invite_id: int, comparison, *, other_invite_id=None, known_solution_id=None, ref="") -> SimilarityMatch:
    return SimilarityMatch(
        invite_id=invite_id,
        other_invite_id=other_invite_id,
        known_solution_id=known_solution_id,
        ref=ref,
        score=round(comparison.score, 4),
        shared=comparison.shared,
        passages=comparison.passages,
    )


def _upsert(rows: list[SimilarityMatch]) -> None:
    """Insert, or replace the row of the same pair and ref (whichever computation of the pair came first)."""
    fields = ["score", "shared", "passages", "computed_at"]
    pairs = [row for row in rows if row.other_invite_id is not None]
    known = [row for row in rows if row.known_solution_id is not None]
    if pairs:
        SimilarityMatch.objects.bulk_create(
            pairs, update_conflicts=True, unique_fields=["invite", "other_invite", "ref"], update_fields=fields
        )
    if known:
        SimilarityMatch.objects.bulk_create(
            known, update_conflicts=True, unique_fields=["invite", "known_solution", "ref"], update_fields=fields
        )


# Known solutions.


def version_find(*, slug: str, version: str) -> AssessmentVersion:
    """The version of assessment ``slug`` with the label ``version`` (the newest of that label), or
    whose content hash starts with ``version`` (at least 7 characters, naming one version)."""
    versions = AssessmentVersion.objects.filter(assessment__slug=slug)
    if not versions.exists():
        raise KnownSolutionError(f"no assessment has the slug {slug!r}")
    labelled = versions.filter(label=version).order_by("-created_at").first()
    if labelled is not None:
        return labelled
    hashed = list(versions.filter(content_hash__startswith=version.lower())) if len(version) >= 7 else []
    if len(hashed) == 1:
        return hashed[0]
    if len(hashed) > 1:
        raise KnownSolutionError(f"{version!r} starts the hash of {len(hashed)} versions of {slug!r}: give more of it")
    labels = ", ".join(sorted({f"{v.label} ({v.short_hash})" for v in versions}))
    raise KnownSolutionError(f"assessment {slug!r} has no version labelled or hashed {version!r}; it has {labels}")


def known_solution_files(*, version: AssessmentVersion, source: Path) -> dict[str, str]:
    """The files a known solution changes, as text: a patch against the shipped project, or a folder
    holding the solution's project tree (compared with the shipped one)."""
    shipped = version_package(version) / version.shipped_subdir
    if not source.exists():
        raise KnownSolutionError(f"{source} does not exist")
    if source.is_dir():
        theirs, ours = project_files(source), project_files(shipped)
        files = {name: text for name, text in theirs.items() if ours.get(name) != text}
    else:
        data = source.read_bytes()
        if b"\0" in data:
            raise KnownSolutionError(f"{source} is a binary file, not a patch")
        files = patch_post_image(shipped, data)
    if not files:
        raise KnownSolutionError(f"{source} changes no text file of the shipped project: nothing to compare with")
    return files


@transaction.atomic
def known_solution_add(
    *, version: AssessmentVersion, name: str, source: Path, source_url: str = "", by=None
) -> KnownSolution:
    """Store a known solution's changed files and fingerprints, then compare every submission of the
    assessment with it (by a worker)."""
    if not name.strip():
        raise KnownSolutionError("a known solution needs a name: where it was found")
    files = known_solution_files(version=version, source=source)
    prints = fingerprint(files, boilerplate=version_boilerplate(version))
    if not prints.places:
        raise KnownSolutionError(
            f"{source} holds nothing beyond the shipped project and the reference fixes: nothing to compare with"
        )
    solution = KnownSolution.objects.create(
        assessment_version=version,
        name=name.strip(),
        source_url=source_url,
        files=prints.files,
        fingerprints=prints.to_json(),
        added_by=by,
    )
    send_on_commit(TASK_COMPARE_KNOWN, known_solution_id=solution.pk)
    return solution


def known_solution_compare(*, known_solution_id: int) -> int:
    """Compare every submission of the known solution's assessment with it, whole and per branch (a
    leaked fix of one ticket); the matches kept."""
    solution = KnownSolution.objects.select_related("assessment_version").filter(pk=known_solution_id).first()
    if solution is None:
        return 0
    theirs = _prints(solution)
    rows = []
    prints = SubmissionPrint.objects.filter(assessment_id=solution.assessment_version.assessment_id)
    for submission in prints.iterator(chunk_size=100):  # whole submissions and each ticket's branch
        comparison = compare(_prints(submission), theirs)
        if comparison.score >= MATCH_FLOOR:
            rows.append(_match(submission.invite_id, comparison, known_solution_id=solution.pk, ref=submission.ref))
    kept = {(row.invite_id, row.ref) for row in rows}
    with transaction.atomic():
        existing = SimilarityMatch.objects.filter(known_solution=solution).values_list("pk", "invite_id", "ref")
        SimilarityMatch.objects.filter(pk__in=[pk for pk, *key in existing if tuple(key) not in kept]).delete()
        _upsert(rows)
    return len(rows)


def known_solution_remove(*, known_solution_id: int) -> KnownSolution:
    """Delete a known solution and its matches."""
    solution = KnownSolution.objects.filter(pk=known_solution_id).first()
    if solution is None:
        raise KnownSolutionError(f"no known solution has the id {known_solution_id}")
    solution.delete()
    return solution
