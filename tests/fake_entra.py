"""Microsoft Entra ID played for the transport-level fakes: a ``TokenCredential`` that
mints an unsigned JWT per scope (``aud`` = the scope's resource, as Entra ID would) and
records every scope asked for, and the reading of a token's audience back, so a fake
service can refuse a token minted for the wrong audience."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import AccessToken

TENANT = "22222222-2222-2222-2222-222222222222"
_NEVER = 4102444800  # 2100-01-01


def _b64(data: Mapping[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def audience_of(scope: str) -> str:
    """``https://ml.azure.com/.default`` -> ``https://ml.azure.com``."""
    return scope.removesuffix(".default").rstrip("/")


def token_audience(token: str | None) -> str | None:
    """The ``aud`` claim of a token minted by ``FakeCredential``, given bare or as an
    ``Authorization: Bearer <token>`` value; None when absent or not one of ours."""
    if not token:
        return None
    try:
        payload = token.removeprefix("Bearer ").split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    audience = claims.get("aud") if isinstance(claims, dict) else None
    return str(audience) if audience else None


class FakeCredential:
    """A ``TokenCredential``; ``scopes`` lists every scope asked for, in order."""

    def __init__(self, tenant: str = TENANT) -> None:
        self.tenant = tenant
        self.scopes: list[str] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.scopes.extend(scopes)
        body = {
            "aud": audience_of(scopes[0]) if scopes else "",
            "tid": self.tenant,
            "oid": "11111111-1111-1111-1111-111111111111",
            "exp": _NEVER,
        }
        return AccessToken(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(body)}.sig", _NEVER)

    def close(self) -> None:
        pass
