from django.core.management.base import BaseCommand

from portal.ats.services import greenhouse_key_make, greenhouse_keys_revoke


class Command(BaseCommand):
    help = (
        "Make the API key Greenhouse calls the portal with, and print it (once: only its hash is kept). "
        "Any earlier key stops working, unless --keep."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--keep", action="store_true", help="Keep earlier keys working (while Greenhouse switches over)."
        )
        group.add_argument("--revoke", action="store_true", help="Revoke every key and make none.")

    def handle(self, *args, **options):
        if options["revoke"]:
            count = greenhouse_keys_revoke()
            self.stdout.write(f"Revoked {count} key(s); Greenhouse's calls are refused until a new key is made.")
            return
        _key, secret = greenhouse_key_make(keep_others=options["keep"])
        self.stderr.write("Give this key to Greenhouse (it is not shown again):")
        self.stdout.write(secret)
