from django import forms

from portal.webhooks.models import EVENT_TYPES


class EndpointForm(forms.Form):
    """What a person types; the rules (the URL policy, known event types) are the services' to check."""

    url = forms.CharField(
        label="URL",
        max_length=2000,
        help_text="Where the portal POSTs each webhook: https://… (http:// also accepted).",
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/portal", "autocomplete": "off"}),
    )
    description = forms.CharField(label="Description", max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events", choices=EVENT_TYPES, required=False, widget=forms.CheckboxSelectMultiple
    )
    active = forms.BooleanField(label="Active: send webhooks to this URL", required=False, initial=True)
