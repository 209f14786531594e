from django.core.management.base import BaseCommand, CommandError

from portal.accounts.sso import DiscoveryFailed, callback_url, provider_discover


class Command(BaseCommand):
    help = (
        "Read an OpenID Connect provider's discovery document and print the PORTAL_OIDC_* settings for it, "
        "to paste into the environment (the portal never reads it at start-up)."
    )

    def add_arguments(self, parser):
        parser.add_argument("issuer", help="the provider's issuer URL, e.g. https://login.example.com/realms/staff")

    def handle(self, *args, issuer: str, **options):
        try:
            found = provider_discover(issuer)
        except DiscoveryFailed as error:
            raise CommandError(str(error)) from None
        for name, value in found.items():
            self.stdout.write(f"{name}={value}")
        self.stdout.write("# Also set PORTAL_OIDC_CLIENT_ID and PORTAL_OIDC_CLIENT_SECRET from the provider.")
        self.stdout.write(f"# The redirect URI to register there: {callback_url()}")
