"""The recruiter's pictures: the stage funnel and the score distribution, drawn as SVG on the server."""

import re

import pytest
from django.urls import reverse

from portal.assessments.models import Assessment
from portal.pipeline.selectors import FUNNEL_STAGES
from portal.web.charts import bar_chart_svg, column_chart_svg
from tests.portal.web.test_dashboard import STATES, _bulk_invites, _invite

pytestmark = pytest.mark.engines

URL = reverse("recruiter_insights")
HOSTILE = '<script>alert("x")</script>&amp;'


@pytest.fixture
def signed_in(client, recruiter):
    client.force_login(recruiter)
    return client


def _table(response) -> dict[str, int]:
    return dict(response.context["funnel"]) | dict(response.context["left"])


def test_it_is_for_recruiters_only(client, reviewer, no_role_user):
    assert client.get(URL).status_code == 302
    for user in (reviewer, no_role_user):
        client.force_login(user)
        assert client.get(URL).status_code == 403


def test_without_assessments_it_says_so(signed_in):
    response = signed_in.get(URL)
    assert response.status_code == 200
    assert b"No assessments yet" in response.content


def test_the_funnel_counts_invites_that_reached_at_least_each_stage_as_the_dashboard_does(
    signed_in, assessment_version
):
    for state in STATES:
        STATES[state](_invite(assessment_version, name=state))
    slug = assessment_version.assessment.slug
    counts = signed_in.get(reverse("recruiter_dashboard"), {"assessment": slug}).context["counts"]
    table = _table(signed_in.get(URL, {"assessment": slug}))
    for i, stage in enumerate(FUNNEL_STAGES):
        assert table[stage.capitalize()] == sum(counts[later] for later in FUNNEL_STAGES[i:])
    assert table["Invited"] == 7  # everyone still in the pipeline
    assert (table["Reviewed"], table["Expired"], table["Revoked"]) == (1, 1, 1)


def test_the_scores_are_bucketed_by_percent_of_points_earned(signed_in, assessment_version):
    STATES["scored"](_invite(assessment_version, name="Ann"))  # 15 of 100 points
    STATES["reviewed"](_invite(assessment_version, name="Bo"))
    STATES["pushed"](_invite(assessment_version, name="Cy"))  # not scored: not counted
    response = signed_in.get(URL)
    assert [n for _, n in response.context["buckets"]] == [0, 2, 0, 0, 0, 0, 0, 0, 0, 0]
    assert response.context["buckets"][1][0] == "10-19%"
    assert response.context["buckets"][-1][0] == "90-100%"
    assert b'<th scope="row">10-19%</th><td>2</td>' in response.content


def test_the_first_assessment_is_shown_unless_another_is_chosen(signed_in, assessment_version):
    other = Assessment.objects.create(slug="aaa-first", title="AAA First")
    _invite(assessment_version)
    assert signed_in.get(URL).context["slug"] == "aaa-first"
    assert signed_in.get(URL, {"assessment": "nonsense"}).context["slug"] == other.slug
    chosen = signed_in.get(URL, {"assessment": assessment_version.assessment.slug})
    assert _table(chosen)["Invited"] == 1


def test_a_hostile_assessment_title_is_escaped_in_the_charts_and_the_page(signed_in, assessment_version):
    Assessment.objects.filter(pk=assessment_version.assessment.pk).update(title=HOSTILE)
    _invite(assessment_version)
    content = signed_in.get(URL).content.decode()
    assert "<script>" not in content
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;" in content
    assert content.count('role="img"') == 2


def test_the_charts_are_accessible_and_scale_with_a_fixed_viewbox():
    svg = bar_chart_svg(chart_id="funnel", title="Funnel", desc="Two stages", bars=[("Invited", 3), ("Opened", 1)])
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 640 64" role="img"')
    assert 'aria-labelledby="funnel-title funnel-desc"' in svg
    assert '<title id="funnel-title">Funnel</title><desc id="funnel-desc">Two stages</desc>' in svg
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert widths[0] == 3 * widths[1]


@pytest.mark.parametrize("chart", [bar_chart_svg, column_chart_svg])
def test_every_piece_of_chart_text_is_escaped_and_bad_values_count_as_zero(chart):
    key = "bars" if chart is bar_chart_svg else "columns"
    svg = chart(
        chart_id='x" onload="alert(1)',
        title=HOSTILE,
        desc=HOSTILE,
        **{key: [(HOSTILE, 2), ("nan", float("nan")), ("neg", -5), ("text", "<b>9</b>"), ("none", None)]},
    )
    assert "<script>" not in svg and "<b>" not in svg
    assert 'onload="' not in svg
    assert svg.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;") == 3
    assert "NaN" not in svg and "nan</text>" in svg
    assert re.findall(r">(\d+)</text>", svg) == ["2", "0", "0", "0", "0"]


def test_an_empty_chart_still_draws():
    assert column_chart_svg(chart_id="s", title="t", desc="d", columns=[]).endswith("</svg>")
    assert 'viewBox="0 0 640 36"' in bar_chart_svg(chart_id="f", title="t", desc="d", bars=[])


def test_the_number_of_queries_does_not_grow_with_the_number_of_invites(
    signed_in, assessment_version, django_assert_max_num_queries
):
    STATES["scored"](_invite(assessment_version))
    signed_in.get(URL)
    with django_assert_max_num_queries(10) as few:
        signed_in.get(URL)
    _bulk_invites(assessment_version, 40)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = signed_in.get(URL)
    assert _table(response)["Invited"] == 41
