from django.apps import AppConfig


class HostingConfig(AppConfig):
    name = "portal.hosting"
    label = "hosting"
    verbose_name = "Git hosting"
