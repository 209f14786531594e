"""/api/v1/webhooks…: webhook endpoints and their deliveries (api.py), for administrators."""

from django.urls import path

from portal.api import webhooks as api

urlpatterns = [
    path("webhooks", api.EndpointList.as_view(), name="webhooks"),
    path("webhooks/<int:endpoint_id>", api.EndpointDetail.as_view(), name="webhook"),
    path("webhooks/<int:endpoint_id>/secret", api.EndpointSecret.as_view(), name="webhook_secret"),
    path("webhooks/<int:endpoint_id>/deliveries", api.DeliveryList.as_view(), name="webhook_deliveries"),
    path(
        "webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver",
        api.DeliveryRedeliver.as_view(),
        name="webhook_redeliver",
    ),
]
