from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "portal.scoring"
    label = "scoring"
    verbose_name = "Scoring"
