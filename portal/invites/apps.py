from django.apps import AppConfig


class InvitesConfig(AppConfig):
    name = "portal.invites"
    label = "invites"
    verbose_name = "Candidates and invites"
