from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "portal.scoring"
    label = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        # Every recorded push is scored: git hosting calls this hook inside the push's transaction.
        from portal.hosting.hooks import push_recorded
        from portal.scoring.services import push_score

        push_recorded.connect(push_score)
