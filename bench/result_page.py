"""The reviewer's result page and `report --json` for invites with 3, 30 and 300 branches.

Both only read what the worker stored (portal.scoring.analysis), so time and query count should
stay flat in the number of branches. For each size this prints p50/p95 milliseconds and the query
count of both, with the ratio to the 3-branch invite measured in the same run (the baseline), and
how long the worker's analysis took. Goal: p95 <= 150 ms at 300 branches.

Runs in this process on a temporary SQLite database and data directory; the branches are real
commits in a real bare repository (tests.support.factories.push_branches); the runs are stored as
a worker stores them (ticket 1 passes) without starting the sandbox, since what is measured is the
read path; "analysis s" is the worker's analysis of it all. Nothing leaves the machine.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from io import StringIO
from pathlib import Path

from _common import ROOT, p95, setup_django, timed

SIZES = (3, 30, 300)
PAGE_REQUESTS = int(os.environ.get("BENCH_PAGE_REQUESTS", "40"))
REPORT_CALLS = int(os.environ.get("BENCH_REPORT_CALLS", "15"))


def make_invite(version, branches: int):
    from portal.hosting.services import invite_open
    from portal.invites.services import candidate_get_or_create
    from tests.support.factories import push_branches, store_verdicts

    candidate = candidate_get_or_create(name=f"Bench {branches}", email=f"bench{branches}@example.com")
    invite = invite_open(candidate=candidate, assessment_version=version).invite
    push_branches(invite, branches)
    started = time.monotonic()
    store_verdicts(invite)
    return invite, time.monotonic() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-result-page-") as scratch:
        setup_django(Path(scratch))
        from django.core.management import call_command
        from django.test import Client
        from django.urls import reverse

        from portal.accounts.models import User
        from portal.accounts.roles import REVIEWER
        from portal.accounts.services import user_grant_role
        from portal.assessments.services import assessment_version_install

        version = assessment_version_install(package_dir=ROOT / "assessment_app")
        reviewer = User.objects.create_user(username="bench-reviewer", password=None)
        user_grant_role(user=reviewer, role=REVIEWER)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(reviewer)

        rows = []
        for size in SIZES:
            invite, analysis_seconds = make_invite(version, size)
            url = reverse("invite_result", args=[invite.public_id])

            def page(url=url):
                response = client.get(url)
                assert response.status_code == 200, response.status_code

            def report(invite=invite):
                call_command("report", invite.public_id, "--json", stdout=StringIO())

            page_ms, page_queries = timed(page, PAGE_REQUESTS)
            report_ms, report_queries = timed(report, REPORT_CALLS)
            size_kb = len(client.get(url).content) / 1024
            rows.append((size, page_ms, page_queries, report_ms, report_queries, analysis_seconds, size_kb))

        base_page, base_report = statistics.median(rows[0][1]), statistics.median(rows[0][3])
        print(f"result page ({PAGE_REQUESTS} requests) and report --json ({REPORT_CALLS} calls) per invite size")
        print(
            f"{'branches':>8}  {'page p50':>9} {'p95':>7} {'queries':>7} {'x base':>6}  "
            f"{'report p50':>10} {'p95':>7} {'queries':>7} {'x base':>6}  {'html KB':>7}  {'analysis s':>10}"
        )
        for size, page_ms, page_q, report_ms, report_q, analysis_s, size_kb in rows:
            print(
                f"{size:>8}  {statistics.median(page_ms):>7.1f}ms {p95(page_ms):>5.1f}ms {page_q:>7} "
                f"{statistics.median(page_ms) / base_page:>6.2f}  "
                f"{statistics.median(report_ms):>8.1f}ms {p95(report_ms):>5.1f}ms {report_q:>7} "
                f"{statistics.median(report_ms) / base_report:>6.2f}  {size_kb:>7.0f}  {analysis_s:>10.2f}"
            )
        largest = rows[-1]
        verdict = "met" if p95(largest[1]) <= 150 else "NOT met"
        print(f"goal p95 <= 150 ms at {largest[0]} branches: {verdict} ({p95(largest[1]):.1f} ms)")


if __name__ == "__main__":
    main()
