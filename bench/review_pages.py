"""The reviewer's pages at 100 invites / 500 runs and at 10,000 invites / 50,000 runs.

The review queue (its four tabs) and the candidate report read stored rows through
portal.reviews.selectors and portal.scoring.selectors, so their query counts should not move
with the size of the tables; the queue's time grows with the rows it lists (every submitted
invite on the "all" tab), the report's should not move at all. Each page is measured twice more
on a blind assessment, where every page is scrubbed of the candidates' identities (their names
and the commit identities stored with the branch evidence). For each size this prints p50/p95
milliseconds and the query count of each page, with the ratio to the small size measured in the
same run (the baseline). Goal: p95 <= 150 ms and a flat query count.

Runs in this process on a temporary SQLite database and data directory. The invite the report
shows is real (a repository with three pushed branches, scored and analysed as the worker does,
like bench/result_page.py); the other rows (candidates, invites, runs with their ticket verdicts,
stored analyses, branch evidence, assignments and reviews) are bulk-created, since what is
measured is the read path. Nothing leaves the machine.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _common import ROOT, p95, setup_django, timed

# (invites, runs): the baseline, then the size the goal is about.
SIZES = ((100, 500), (10_000, 50_000))
PAGE_REQUESTS = int(os.environ.get("BENCH_PAGE_REQUESTS", "20"))
# A page slower than this budget allows is requested fewer times (never under 3), so that a slow
# page is still measured and the whole run stays within minutes.
BUDGET_MS = 6000
SUBMITTED_EVERY = 33  # 3 submitted invites of 100, 303 of 10,000
TICKETS = 6


def add_invites(version, rubric, reviewer, other, start: int, stop: int, runs: int) -> None:
    """Invites start..stop-1 with ``runs`` runs among them; every SUBMITTED_EVERY-th is submitted,
    analysed, has branch evidence, and is assigned to or reviewed by ``reviewer`` and ``other`` in turn."""
    from django.utils import timezone

    from portal.invites.models import Candidate, Invite
    from portal.reviews.models import Assignment, Review
    from portal.scoring.models import BranchEvidence, InviteAnalysis, Run, TicketVerdict

    now = timezone.now()
    numbers = range(start, stop)
    candidates = Candidate.objects.bulk_create(
        (Candidate(name=f"Candidate {n:05d}", email=f"candidate{n}@example.com") for n in numbers), batch_size=2000
    )
    invites = Invite.objects.bulk_create(
        (
            Invite(
                public_id=f"bench{n:08d}",
                candidate=candidate,
                assessment_version=version,
                link_token_hash=f"link-{n}",
                git_token_hash=f"git-{n}",
                status="submitted" if n % SUBMITTED_EVERY == 0 else "active",
                deadline=now + timedelta(days=7),
                started_at=now - timedelta(days=2),
                submitted_at=now - timedelta(minutes=n) if n % SUBMITTED_EVERY == 0 else None,
            )
            for n, candidate in zip(numbers, candidates, strict=True)
        ),
        batch_size=2000,
    )
    per_invite = runs // len(invites)
    run_rows = Run.objects.bulk_create(
        (
            Run(
                invite=invite,
                assessment_version=version,
                commit=f"{n:032d}{r:08d}",
                ref=f"refs/heads/issue-{r % TICKETS + 1}",
                grader_version="bench",
                status="succeeded",
                queued_at=now - timedelta(minutes=n, seconds=r),
                finished_at=now - timedelta(minutes=n),
            )
            for n, invite in zip(numbers, invites, strict=True)
            for r in range(per_invite)
        ),
        batch_size=2000,
    )
    TicketVerdict.objects.bulk_create(
        (
            TicketVerdict(run=run, ticket=t, passed=t == 1, tests_passed=3 if t == 1 else 1, tests_total=3)
            for run in run_rows
            for t in range(1, TICKETS + 1)
        ),
        batch_size=5000,
    )
    submitted = [(n, invite) for n, invite in zip(numbers, invites, strict=True) if n % SUBMITTED_EVERY == 0]
    tickets = [{"number": t, "points": 15, "earned": 15 if t == 1 else 0} for t in range(1, TICKETS + 1)]
    InviteAnalysis.objects.bulk_create(
        InviteAnalysis(invite=invite, requested=1, computed=1, computed_at=now, result={"tickets": tickets})
        for _, invite in submitted
    )
    BranchEvidence.objects.bulk_create(
        BranchEvidence(
            invite=invite,
            branch=f"issue-{b}",
            head=f"{n:036d}{b:04d}",
            base="0" * 40,
            commits=[
                {
                    "sha": f"{n:036d}{b:04d}",
                    "message": f"Fix: Resolve issue #{b}",
                    "author": f"Dev {n:05d}",
                    "author_email": f"dev{n}@example.org",
                    "committer": f"Dev {n:05d}",
                    "committer_email": f"dev{n}@example.org",
                }
            ],
            computed_at=now,
        )
        for n, invite in submitted
        for b in (1, 2)
    )
    Assignment.objects.bulk_create(
        Assignment(invite=invite, reviewer=reviewer) for i, (_, invite) in enumerate(submitted) if i % 4 == 1
    )
    scores = {key: 3 for key in rubric.keys}
    Review.objects.bulk_create(
        Review(
            invite=invite,
            reviewer=reviewer if i % 4 == 2 else other,
            rubric=rubric,
            scores=scores,
            recommendation="yes",
            summary="Bench review.",
            status="submitted",
            submitted_at=now,
        )
        for i, (_, invite) in enumerate(submitted)
        if i % 4 in (2, 3)
    )


def measure(call) -> tuple[list[float], int]:
    """timed(call), with as many requests as PAGE_REQUESTS or the time budget allow (at least 3)."""
    started = time.perf_counter()
    call()
    once_ms = (time.perf_counter() - started) * 1000
    return timed(call, max(3, min(PAGE_REQUESTS, int(BUDGET_MS / max(once_ms, 1)))))


def real_invite(version):
    """The invite the report shows: three real branches, scored and analysed, then submitted."""
    from portal.hosting.services import invite_open
    from portal.invites.services import candidate_get_or_create, invite_submit
    from tests.support.factories import push_branches, store_verdicts

    candidate = candidate_get_or_create(name="Report Candidate", email="report@example.com")
    invite = invite_open(candidate=candidate, assessment_version=version).invite
    push_branches(invite, 3)
    store_verdicts(invite)
    return invite_submit(invite=invite)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-review-pages-") as scratch:
        setup_django(Path(scratch))
        from django.test import Client
        from django.urls import reverse

        from portal.accounts.models import User
        from portal.accounts.roles import REVIEWER
        from portal.accounts.services import user_grant_role
        from portal.assessments.models import Assessment
        from portal.assessments.services import assessment_version_install
        from portal.reviews.services import rubric_current

        version = assessment_version_install(package_dir=ROOT / "assessment_app")
        rubric = rubric_current(version.assessment)
        reviewer = User.objects.create_user(username="bench-reviewer", password=None)
        other = User.objects.create_user(username="bench-other", password=None)
        for user in (reviewer, other):
            user_grant_role(user=user, role=REVIEWER)
        invite = real_invite(version)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(reviewer)
        queue = reverse("review_queue")
        pages = [(f"queue {view}", f"{queue}?view={view}") for view in ("mine", "unassigned", "done", "all")]
        pages.append(("report", reverse("invite_result", args=[invite.public_id])))

        def get(url: str) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        results: dict[tuple[str, bool], list[tuple[list[float], int]]] = {}
        made = (0, 0)
        for invites, runs in SIZES:
            add_invites(version, rubric, reviewer, other, made[0], invites, runs - made[1])
            made = (invites, runs)
            for blind in (False, True):
                Assessment.objects.filter(pk=version.assessment_id).update(blind_review=blind)
                for label, url in pages:
                    results.setdefault((label, blind), []).append(measure(lambda url=url: get(url)))

        print(f"reviewer pages (up to {PAGE_REQUESTS} requests each) at {SIZES[0]} and {SIZES[1]} (invites, runs)")
        print(
            f"{'page':<18} {'blind':>5}  {'base p50':>9} {'p95':>7} {'queries':>7}  "
            f"{'large p50':>9} {'p95':>7} {'queries':>7}  {'x base':>6}  goal"
        )
        for (label, blind), ((base_ms, base_q), (large_ms, large_q)) in results.items():
            met = p95(large_ms) <= 150 and large_q == base_q
            print(
                f"{label:<18} {'yes' if blind else 'no':>5}  "
                f"{statistics.median(base_ms):>7.1f}ms {p95(base_ms):>5.1f}ms {base_q:>7}  "
                f"{statistics.median(large_ms):>7.1f}ms {p95(large_ms):>5.1f}ms {large_q:>7}  "
                f"{statistics.median(large_ms) / statistics.median(base_ms):>6.2f}  {'met' if met else 'NOT met'}"
            )
        print("goal: p95 <= 150 ms at the large size, and the same query count at both sizes")


if __name__ == "__main__":
    main()
