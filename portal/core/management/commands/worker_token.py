from django.core.management.base import BaseCommand, CommandError

from portal.core.workers import NoWorkerCredential, worker_token


class Command(BaseCommand):
    help = (
        "Print the worker credential (git user 'worker') for PORTAL_WORKER_GIT_TOKEN on other hosts: "
        "the variable if set, else the installation's token in the data directory (made on first use)."
    )

    def handle(self, *args, **options):
        try:
            self.stdout.write(worker_token())
        except NoWorkerCredential as exc:
            raise CommandError(str(exc)) from exc
