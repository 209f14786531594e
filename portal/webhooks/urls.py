"""The administrators' webhook pages."""

from django.urls import path

from portal.webhooks import views

urlpatterns = [
    path("webhooks/", views.endpoint_list, name="webhook_endpoints"),
    path("webhooks/new", views.endpoint_new, name="webhook_endpoint_new"),
    path("webhooks/<int:endpoint_id>/", views.endpoint_detail, name="webhook_endpoint"),
    path("webhooks/<int:endpoint_id>/secret", views.endpoint_secret_shown, name="webhook_endpoint_secret_shown"),
    path("webhooks/<int:endpoint_id>/rotate", views.endpoint_secret_rotate, name="webhook_endpoint_rotate"),
    path("webhooks/<int:endpoint_id>/test", views.endpoint_test, name="webhook_endpoint_test"),
    path("webhooks/<int:endpoint_id>/delete", views.endpoint_delete, name="webhook_endpoint_delete"),
    path("webhooks/<int:endpoint_id>/log", views.endpoint_log, name="webhook_endpoint_log"),
    path("webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/", views.delivery_detail, name="webhook_delivery"),
    path(
        "webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver",
        views.delivery_redeliver,
        name="webhook_delivery_redeliver",
    ),
]
