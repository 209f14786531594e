"""Webhook endpoints and their delivery logs over the REST API (/api/v1/webhooks…), for administrators.

Thin over portal.webhooks.services, as the pages are.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from portal.api.errors import Conflict, ValidationErrorOutput, error_responses
from portal.api.permissions import IsAdministrator
from portal.webhooks import selectors, services
from portal.webhooks.models import EVENT_TYPE_NAMES, WebhookDelivery, WebhookEndpoint


class EndpointInput(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="http(s) URL that receives the webhooks.")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(EVENT_TYPE_NAMES), required=False, default=list, max_length=len(EVENT_TYPE_NAMES)
    )
    active = serializers.BooleanField(required=False, default=True)


class EndpointOutput(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id", "url", "description", "event_types", "active", "disabled_reason", "created_by", "created_at",
            "updated_at",
        ]  # fmt: skip


class EndpointWithSecret(EndpointOutput):
    class Meta(EndpointOutput.Meta):
        fields = [*EndpointOutput.Meta.fields, "secret"]


class SecretOutput(serializers.Serializer):
    secret = serializers.CharField(help_text="whsec_ and the base64 of the signing key.")


class DeliveryOutput(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "msg_id", "event_type", "status", "attempts", "response_code", "response_excerpt", "error",
            "next_attempt_at", "created_at", "last_attempt_at", "delivered_at", "payload",
        ]  # fmt: skip


class _Admin:
    permission_classes = [*api_settings.DEFAULT_PERMISSION_CLASSES, IsAdministrator]


def _invalid(exc: services.EndpointInvalid) -> exceptions.ValidationError:
    return exceptions.ValidationError({exc.field: [str(exc)]})


ERRORS = error_responses(
    404,
    e403="Not an administrator's token, or a read-only one for a change.",
    e404="No such endpoint or delivery.",
)
BAD = {
    400: OpenApiResponse(
        ValidationErrorOutput, description="A field is not valid (a URL the policy refuses, an unknown event type)."
    )
}


class EndpointList(_Admin, generics.GenericAPIView):
    queryset = WebhookEndpoint.objects.select_related("created_by").order_by("id")
    serializer_class = EndpointOutput

    @extend_schema(summary="Webhook endpoints", responses={200: EndpointOutput(many=True), **ERRORS})
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(EndpointOutput(page, many=True).data)

    @extend_schema(
        summary="Add a webhook endpoint; the answer holds its secret",
        request=EndpointInput,
        responses={201: EndpointWithSecret, **BAD, **ERRORS},
    )
    def post(self, request):
        given = EndpointInput(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            endpoint = services.endpoint_create(**given.validated_data, by=request.user)
        except services.EndpointInvalid as exc:
            raise _invalid(exc) from None
        return Response(EndpointWithSecret(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetail(_Admin, generics.GenericAPIView):
    queryset = WebhookEndpoint.objects.select_related("created_by")
    serializer_class = EndpointOutput
    lookup_url_kwarg = "endpoint_id"

    @extend_schema(summary="One webhook endpoint", responses={200: EndpointOutput, **ERRORS})
    def get(self, request, endpoint_id: int):
        return Response(EndpointOutput(self.get_object()).data)

    @extend_schema(
        summary="Change a webhook endpoint",
        request=EndpointInput(partial=True),
        responses={200: EndpointOutput, **BAD, **ERRORS},
    )
    def patch(self, request, endpoint_id: int):
        endpoint = self.get_object()
        given = EndpointInput(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        changes = {name: given.validated_data[name] for name in request.data if name in given.validated_data}
        try:
            services.endpoint_update(endpoint=endpoint, by=request.user, **changes)
        except services.EndpointInvalid as exc:
            raise _invalid(exc) from None
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(summary="Delete a webhook endpoint and its delivery log", responses={204: None, **ERRORS})
    def delete(self, request, endpoint_id: int):
        services.endpoint_delete(endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointSecret(_Admin, generics.GenericAPIView):
    queryset = WebhookEndpoint.objects.all()
    serializer_class = SecretOutput
    lookup_url_kwarg = "endpoint_id"

    @extend_schema(summary="The endpoint's signing secret", responses={200: SecretOutput, **ERRORS})
    def get(self, request, endpoint_id: int):
        return Response({"secret": self.get_object().secret})

    @extend_schema(
        summary="Rotate the signing secret (the old one stops verifying at once)",
        request=None,
        responses={200: SecretOutput, **ERRORS},
    )
    def post(self, request, endpoint_id: int):
        endpoint = services.endpoint_secret_rotate(endpoint=self.get_object())
        return Response({"secret": endpoint.secret})


class DeliveryList(_Admin, generics.GenericAPIView):
    serializer_class = DeliveryOutput

    def get_queryset(self):
        endpoint = get_object_or_404(WebhookEndpoint, pk=self.kwargs["endpoint_id"])
        return selectors.endpoint_deliveries(endpoint=endpoint)

    @extend_schema(
        summary="An endpoint's delivery log, newest first", responses={200: DeliveryOutput(many=True), **ERRORS}
    )
    def get(self, request, endpoint_id: int):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DeliveryOutput(page, many=True).data)


class DeliveryRedeliver(_Admin, generics.GenericAPIView):
    serializer_class = DeliveryOutput

    @extend_schema(
        summary="Send a delivery again (same webhook-id)",
        request=None,
        responses={
            202: DeliveryOutput,
            **ERRORS,
            **error_responses(409, e409="An attempt of it is under way."),
        },
    )
    def post(self, request, endpoint_id: int, delivery_id: int):
        delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, endpoint_id=endpoint_id)
        try:
            delivery = services.delivery_redeliver(delivery=delivery)
        except services.DeliveryRefused as exc:
            raise Conflict(str(exc)) from None
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)
