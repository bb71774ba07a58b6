"""The Cognito side of the local workforce: ``cognito-idp ListUsers`` on the service's endpoint.

A private workteam names a Cognito user pool in its ``MemberDefinitions``; on AWS that pool maps each worker's
``sub`` (written into the worker responses) to a username. The local service answers ``ListUsers`` for the pools
its workteams name, with the portal accounts of those teams, so that the same lookup
(:mod:`gtlabel.quality.identities`) names workers here and on AWS. Only ``ListUsers`` is emulated (JSON 1.1,
``X-Amz-Target: AWSCognitoIdentityProviderService.ListUsers``, SigV4 service ``cognito-idp``); point boto3 at it
with ``AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`` (``LocalService.env()`` sets it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gtlabel.errors import ServiceError, UnknownOperation
from gtlabel.local.backend import Backend

__all__ = ["SERVICE", "TARGET", "CognitoApi"]

TARGET = "AWSCognitoIdentityProviderService"
SERVICE = "cognito-idp"
MAX_USERS = 60  # ListUsers' Limit


class CognitoApi:
    """``ListUsers`` over the workers of the teams whose member definitions name the pool."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def dispatch(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if operation != "ListUsers":
            raise UnknownOperation(f"Operation {operation!r} of Cognito is not emulated by the local service; it "
                                   "answers ListUsers only (worker usernames for reports).")
        return self.list_users(params)

    def list_users(self, params: Mapping[str, Any]) -> dict[str, Any]:
        pool = str(params.get("UserPoolId", ""))
        teams = [t.name for t in self.backend.state.teams.all()
                 if any(m.get("CognitoMemberDefinition", {}).get("UserPool") == pool for m in t.members)]
        if not teams:
            raise ServiceError(f"User pool {pool} does not exist.", code="ResourceNotFoundException")
        try:
            limit = min(int(params.get("Limit") or MAX_USERS), MAX_USERS)
            start = int(params.get("PaginationToken") or 0)
        except ValueError:
            raise ServiceError("Limit and PaginationToken must be numbers here.",
                               code="InvalidParameterException") from None
        workers = self.backend.state.workers.members(teams)
        page = workers[start:start + limit]
        out: dict[str, Any] = {"Users": [{
            "Username": w.username, "Attributes": [{"Name": "sub", "Value": w.sub}], "Enabled": True,
            "UserStatus": "CONFIRMED", "UserCreateDate": w.created, "UserLastModifiedDate": w.created,
        } for w in page]}
        if start + limit < len(workers):
            out["PaginationToken"] = str(start + limit)
        return out
