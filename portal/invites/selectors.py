from portal.invites.models import Invite
from portal.invites.tokens import git_token_for, token_hash, token_matches


def invite_by_link_token(*, token: str) -> Invite | None:
    return (
        Invite.objects.select_related("candidate", "assessment_version")
        .filter(link_token_hash=token_hash(token))
        .first()
    )


def submitted_invites():
    """Submitted invites, oldest submission first: the review queue."""
    return (
        Invite.objects.filter(status=Invite.Status.SUBMITTED)
        .select_related("candidate", "assessment_version__assessment")
        .order_by("submitted_at")
    )


def invite_git_token(*, invite: Invite, link_token: str) -> str:
    return git_token_for(link_token=link_token, public_id=invite.public_id)


def invite_for_git_credentials(*, public_id: str, password: str) -> Invite | None:
    """The invite these git credentials open, or None. Constant-time in the password."""
    invite = Invite.objects.select_related("assessment_version").filter(public_id=public_id).first()
    expected = invite.git_token_hash if invite else token_hash("no such invite")
    matches = token_matches(password, expected)
    return invite if invite and matches else None
