"""Similar submissions in a real browser: the recruiter's dashboard flags the invite, the flag leads
to the report's section, and the report with its matching passages (long lines, many lines, markup
and bidirectional controls in the candidates' code) fits 1280 and 390 px without sideways scrolling
and passes axe-core. The two sides of a passage sit side by side on a wide screen, stacked on a phone.
The recruiter's page for the invite flags it too, the printable report shows every passage unfolded,
and the review page the closest match beside the rubric: each fits both widths and passes axe-core.

Matches are stored rows, as the worker leaves them. Screenshots at both widths are saved under
var/screenshots/similarity-pages/ (CI keeps them): look at them.
"""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from portal.integrity.models import KnownSolution, SimilarityMatch, SubmissionPrint
from portal.invites.services import invite_submit
from tests.support.browser import DESKTOP, PHONE, Screenshots, assert_accessible, overflow, sign_in
from tests.support.factories import make_invite

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.django_db(transaction=True),
]

CODE = """def cart_total(items, discount=None):
    total = 0
    for item in items:
        total += item.price * item.quantity
    if discount:
        total -= total * discount.rate
    return round(total, 2)
"""
LONG = "    raise ValueError('" + "quantity must be a positive whole number; " * 30 + "')\n"
RTL = "access = 'user\u202e \u2066// admin only\u2069 \u2066'\n"
A4 = {"width": 794, "height": 1123}  # CSS pixels of an A4 page at 96 dpi


def _submitted(version, name: str, email: str):
    invite = invite_submit(invite=make_invite(version, name=name, email=email).invite)
    SubmissionPrint.objects.create(invite=invite, assessment=version.assessment, commit="c" * 40)
    return invite


@pytest.fixture
def matched(assessment_version):
    own = _submitted(assessment_version, "Ann Example", "ann@example.com")
    peer = _submitted(assessment_version, "Bea Alike-With-A-Long-Name", "bea.long.address@example.com")
    leak = KnownSolution.objects.create(
        assessment_version=assessment_version, name="public gist, 2026-11", source_url="https://gist.example.com/x"
    )
    hostile = "<script>alert('x')</script>\n" + LONG + RTL + "\n".join(f"line {n}" for n in range(10_000))
    SimilarityMatch.objects.create(
        invite=own,
        other_invite=peer,
        score=0.82,
        shared=57,
        passages=[
            {
                "path": "app/services/cart.py",
                "lines": [12, 18],
                "text": CODE,
                "other_path": "app/basket.py",
                "other_lines": [40, 46],
                "other_text": CODE.replace("cart_total", "basket_sum"),
            },
            {
                "path": "app/validation.py",
                "lines": [3, 10_002],
                "text": hostile,
                "other_path": "a/" * 150 + "deep.py",
                "other_lines": [1, 4],
                "other_text": LONG,
            },
        ],
    )
    SimilarityMatch.objects.create(invite=own, known_solution=leak, score=0.41, shared=20, passages=[])
    return own, peer


def _fits_and_passes(page, where: str) -> None:
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        assert overflow(page) == 0, f"{where} is {overflow(page)} px wider than a {viewport['width']} px window"
        assert_accessible(page)
    page.set_viewport_size(DESKTOP)


def test_the_flag_leads_to_a_report_section_that_fits_a_phone_and_passes_axe(
    page, live_server, matched, recruiter_and_reviewer
):
    own, peer = matched
    shots = Screenshots("similarity-pages")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, live_server.url, recruiter_and_reviewer.username)

    page.goto(live_server.url + reverse("recruiter_dashboard"))
    flag = page.locator(f'tr[data-invite="{own.public_id}"] .similarity-flag')
    expect(flag).to_have_text("⚠ Similar to another submission (82\u00a0%)")
    expect(page.locator(f'tr[data-invite="{peer.public_id}"] .similarity-flag')).to_have_count(0)
    _fits_and_passes(page, "the dashboard with a flag")
    shots.take(page, "dashboard")

    flag.get_by_role("link").click()
    section = page.locator("#similarity")
    expect(section.get_by_role("heading", level=2)).to_have_text("Similar submissions")
    expect(section).to_contain_text("Evidence for your judgement, not a verdict")
    expect(section.get_by_role("link", name="Bea Alike-With-A-Long-Name")).to_be_visible()
    expect(section).to_contain_text("matches known solution “public gist, 2026-11”")
    # The candidates' markup is text, and nothing ran.
    expect(section).to_contain_text("<script>alert('x')</script>")
    assert dialogs == []
    expect(section).to_contain_text("<U+202E>")
    expect(section).to_contain_text("more lines not shown")

    first = section.locator(".similarity-pair").first
    mine, theirs = first.locator(".similarity-side").all()
    page.set_viewport_size(DESKTOP)
    a, b = mine.bounding_box(), theirs.bounding_box()
    assert abs(a["y"] - b["y"]) < 1 and b["x"] > a["x"] + a["width"], (a, b)  # side by side
    page.set_viewport_size(PHONE)
    a, b = mine.bounding_box(), theirs.bounding_box()
    assert b["y"] >= a["y"] + a["height"] and abs(a["x"] - b["x"]) < 1, (a, b)  # stacked
    # A long line scrolls inside its own box, never the page.
    box = section.locator(".similarity-code").nth(2)
    assert box.evaluate("el => el.scrollWidth > el.clientWidth")
    _fits_and_passes(page, "the report with similar submissions")
    section.scroll_into_view_if_needed()
    shots.take(page, "report")
    assert shots.saved() == 4


def test_the_invite_page_flag_the_printable_report_and_the_review_page_fit_a_phone_and_pass_axe(
    page, live_server, matched, recruiter_and_reviewer
):
    own, _peer = matched
    shots = Screenshots("similarity-more-pages")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, live_server.url, recruiter_and_reviewer.username)

    page.goto(live_server.url + reverse("recruiter_invite_detail", args=[own.public_id]))
    flag = page.locator("#invite-status .similarity-flag")
    expect(flag).to_have_text("⚠ Similar to another submission (82\u00a0%)")
    _fits_and_passes(page, "the recruiter's invite page with a flag")
    shots.take(page, "invite-page")
    flag.get_by_role("link").click()
    expect(page.locator("#similarity")).to_be_in_viewport()

    page.goto(live_server.url + reverse("invite_report_print", args=[own.public_id]))
    section = page.locator("#similarity")
    expect(section.get_by_role("heading", level=2)).to_have_text("Similar submissions")
    # Nothing folded: both passages of the first match are on the page, readable.
    expect(section.locator("details")).to_have_count(0)
    expect(section.locator(".similarity-pair")).to_have_count(2)
    expect(section.locator(".similarity-pair").nth(1)).to_be_visible()
    expect(section).to_contain_text("found at https://gist.example.com/x")
    expect(section).to_contain_text("<script>alert('x')</script>")
    assert dialogs == []
    _fits_and_passes(page, "the printable report with similar submissions")
    section.scroll_into_view_if_needed()
    shots.take(page, "printable-report")
    # On paper (an A4 page's width) the code wraps inside its box and no box scrolls: nothing is cut off.
    page.emulate_media(media="print")
    page.set_viewport_size(A4)
    for box in section.locator(".similarity-code").all():
        assert box.evaluate("el => el.scrollWidth <= el.clientWidth && el.scrollHeight <= el.clientHeight")
    assert overflow(page) == 0
    section.screenshot(path=shots.folder / "02-printable-report-paper.png")
    page.emulate_media(media="screen")
    page.set_viewport_size(DESKTOP)

    page.goto(live_server.url + reverse("review_form", args=[own.public_id]))
    summary = page.locator("#similarity-summary")
    expect(summary).to_contain_text("the closest, 82\u00a0%, is shared with Bea Alike-With-A-Long-Name")
    _fits_and_passes(page, "the review page with the closest match")
    summary.scroll_into_view_if_needed()
    shots.take(page, "review-page")
    summary.get_by_role("link", name="The passages on the report").click()
    expect(page.locator("#similarity")).to_be_in_viewport()
    assert shots.saved() == 7
