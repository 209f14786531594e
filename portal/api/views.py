"""Views shared by the API's modules: who am I."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from portal.accounts.models import ApiToken
from portal.accounts.roles import ROLES
from portal.api.errors import error_responses


@extend_schema(
    summary="The token in use and what it may do",
    responses={
        200: inline_serializer(
            "Me",
            {
                "token": serializers.CharField(),
                "kind": serializers.ChoiceField(ApiToken.Kind.choices),
                "scope": serializers.ChoiceField(ApiToken.Scope.choices),
                "user": serializers.CharField(allow_null=True),
                "roles": serializers.ListField(child=serializers.CharField()),
            },
        ),
        **error_responses(),
    },
)
@api_view(["GET"])
def me(request):
    token: ApiToken = request.auth
    user = request.user
    return Response(
        {
            "token": token.name,
            "kind": token.kind,
            "scope": token.scope,
            "user": user.get_username() if token.kind == ApiToken.Kind.PERSONAL else None,
            "roles": [role.group for role in ROLES if user.has_perm(role.permission)],
        }
    )
