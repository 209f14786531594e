"""Integrity across candidates: similar submissions and known leaked solutions, shown as evidence."""

from django.apps import AppConfig


class IntegrityConfig(AppConfig):
    name = "portal.integrity"
    label = "integrity"
    verbose_name = "Integrity"
