"""Who may review an assessment is set on the assessment's own admin page."""

from django.urls import reverse

from portal.reviews.models import AssessmentReviewer


def test_the_assessment_admin_page_lists_and_adds_its_reviewers(client, admin_user, reviewer, assessment_version):
    assessment = assessment_version.assessment
    client.force_login(admin_user)
    url = reverse("admin:assessments_assessment_change", args=[assessment.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "reviewers-TOTAL_FORMS" in page.content.decode()
    prefix = "reviewers"
    versions = "versions"
    response = client.post(
        url,
        {
            "title": assessment.title,
            "candidate_results": assessment.candidate_results,
            "similarity_flag": "0.6",
            f"{versions}-TOTAL_FORMS": "1",
            f"{versions}-INITIAL_FORMS": "1",
            f"{versions}-0-id": str(assessment_version.pk),
            f"{versions}-0-assessment": str(assessment.pk),
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-0-user": str(reviewer.pk),
            f"{prefix}-0-assessment": str(assessment.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(AssessmentReviewer.objects.values_list("user__username", flat=True)) == [reviewer.username]
