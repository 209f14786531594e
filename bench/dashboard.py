"""The recruiter dashboard at 100 and 10,000 invites.

The page filters, sorts, counts and pages in the database (portal.pipeline.selectors), so its query
count should not move with the number of invites; its time grows with what the database scans
to compute every invite's stage and last activity. For each size this prints p50/p95
milliseconds and the query count of the default page (sorted by last activity) and of a
filtered one (a stage, a search, sorted by name), with the ratio to 100 invites measured in the
same run (the baseline).

Runs in this process on a temporary SQLite database and data directory (bench/result_page.py's
setup); the rows (candidates, invites in every stage, their events, pushes, runs and stored
analyses) are bulk-created, since what is measured is the read path. Nothing leaves the machine.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from datetime import timedelta
from pathlib import Path

from _common import ROOT, p95, setup_django, timed

SIZES = (100, 10_000)
PAGE_REQUESTS = int(os.environ.get("BENCH_PAGE_REQUESTS", "30"))
# One invite in each of these states, in turn.
STATES = ("invited", "opened", "cloned", "pushed", "submitted", "scored", "reviewed", "expired", "revoked")


def add_invites(version, start: int, stop: int) -> None:
    """Invites start..stop-1, cycling through STATES, with what each state leaves in the database."""
    from django.utils import timezone

    from portal.hosting.models import Push
    from portal.invites.models import Candidate, Event, Invite
    from portal.scoring.models import InviteAnalysis, Run

    now = timezone.now()
    numbers = range(start, stop)
    candidates = Candidate.objects.bulk_create(
        Candidate(name=f"Candidate {n:05d}", email=f"candidate{n}@example.com") for n in numbers
    )
    invites = []
    for n, candidate in zip(numbers, candidates, strict=True):
        state = STATES[n % len(STATES)]
        done = state in ("submitted", "scored", "reviewed")
        invites.append(
            Invite(
                public_id=f"bench{n:08d}",
                candidate=candidate,
                assessment_version=version,
                link_token_hash=f"link-{n}",
                git_token_hash=f"git-{n}",
                status="revoked" if state == "revoked" else "submitted" if done else "active",
                deadline=now + timedelta(days=7) if state != "expired" else now - timedelta(days=1),
                started_at=now - timedelta(hours=2) if STATES.index(state) >= 2 and state != "revoked" else None,
                submitted_at=now if done else None,
            )
        )
    invites = Invite.objects.bulk_create(invites)
    events, pushes, runs, analyses = [], [], [], []
    for n, invite in zip(numbers, invites, strict=True):
        state = STATES[n % len(STATES)]
        at = now - timedelta(minutes=n % 5000)
        kinds = ["invited", "opened", "cloned", "pushed", "submitted", "scored", "reviewed"]
        reached = kinds[: kinds.index(state) + 1] if state in kinds else ["invited", "opened"]
        events += [Event(invite=invite, kind=kind, at=at + timedelta(seconds=i)) for i, kind in enumerate(reached)]
        if "pushed" in reached:
            pushes.append(Push(invite=invite, at=at))
            status = "queued" if state == "submitted" else "failed"
            runs.append(
                Run(
                    invite=invite,
                    assessment_version=version,
                    commit=f"{n:040d}",
                    grader_version="b",
                    status=status,
                    queued_at=at,
                )
            )
        if state in ("scored", "reviewed"):
            tickets = [{"number": t, "points": 15, "earned": 15 if t == 1 else 0} for t in range(1, 7)]
            analyses.append(InviteAnalysis(invite=invite, requested=1, computed=1, result={"tickets": tickets}))
    Event.objects.bulk_create(events, batch_size=2000)
    Push.objects.bulk_create(pushes, batch_size=2000)
    Run.objects.bulk_create(runs, batch_size=2000)
    InviteAnalysis.objects.bulk_create(analyses, batch_size=2000)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as scratch:
        setup_django(Path(scratch))
        from django.test import Client
        from django.urls import reverse

        from portal.accounts.models import User
        from portal.accounts.roles import RECRUITER, REVIEWER
        from portal.accounts.services import user_grant_role
        from portal.assessments.services import assessment_version_install

        version = assessment_version_install(package_dir=ROOT / "assessment_app")
        recruiter = User.objects.create_user(username="bench-recruiter", password=None)
        for role in (RECRUITER, REVIEWER):
            user_grant_role(user=recruiter, role=role)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(recruiter)
        url = reverse("recruiter_dashboard")
        filtered = {"stage": "scored", "q": "candidate 0", "sort": "name"}

        rows = []
        made = 0
        for size in SIZES:
            add_invites(version, made, size)
            made = size

            def page(params=None):
                response = client.get(url, params or {})
                assert response.status_code == 200, response.status_code

            default_ms, default_q = timed(page, PAGE_REQUESTS)
            filtered_ms, filtered_q = timed(lambda: page(filtered), PAGE_REQUESTS)
            rows.append((size, default_ms, default_q, filtered_ms, filtered_q))

        base_default, base_filtered = statistics.median(rows[0][1]), statistics.median(rows[0][3])
        print(f"recruiter dashboard ({PAGE_REQUESTS} requests each): default page, and stage+search+name sort")
        print(
            f"{'invites':>8}  {'page p50':>9} {'p95':>7} {'queries':>7} {'x base':>6}  "
            f"{'filtered p50':>12} {'p95':>7} {'queries':>7} {'x base':>6}"
        )
        for size, default_ms, default_q, filtered_ms, filtered_q in rows:
            print(
                f"{size:>8}  {statistics.median(default_ms):>7.1f}ms {p95(default_ms):>5.1f}ms {default_q:>7} "
                f"{statistics.median(default_ms) / base_default:>6.2f}  "
                f"{statistics.median(filtered_ms):>10.1f}ms {p95(filtered_ms):>5.1f}ms {filtered_q:>7} "
                f"{statistics.median(filtered_ms) / base_filtered:>6.2f}"
            )


if __name__ == "__main__":
    main()
