from portal.accounts.services import roles_sync


def sync_roles_after_migrate(sender, **kwargs) -> None:
    # Permissions are created by Django after migrations run, so the groups are
    # (re)built here rather than in a data migration, on every migrate.
    roles_sync()
