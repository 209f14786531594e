"""The demo accounts carry full names: invitations and pages name the person, not a username."""

from portal.accounts.demo import demo_accounts_seed
from portal.accounts.models import User


def test_demo_accounts_have_full_names_and_a_second_seed_keeps_them(db, tmp_path):
    credentials = tmp_path / "demo-credentials.json"
    first = demo_accounts_seed(credentials_file=credentials)
    assert [a.username for a in first] == ["admin", "recruiter", "reviewer"]
    names = {u.username: u.get_full_name() for u in User.objects.all()}
    assert names == {"admin": "Alex Admin", "recruiter": "Rita Recruiter", "reviewer": "Rob Reviewer"}

    again = demo_accounts_seed(credentials_file=credentials)
    assert not any(a.created for a in again) and all(a.password_works for a in again)
    assert User.objects.get(username="recruiter").get_full_name() == "Rita Recruiter"
