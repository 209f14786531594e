"""Outgoing webhooks: endpoints per event kind, deliveries signed per the Standard Webhooks specification."""
