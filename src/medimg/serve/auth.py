"""API-token authentication on every /v1 call: ``Authorization: Bearer <token>``, ``X-API-Key: <token>``, or HTTP Basic
with the token as the password (any user name; or as the user name with an empty password), for clients that only
speak Basic auth (DICOM routers, PACS forwarding rules, ``curl -u :TOKEN``)."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer

from medimg.serve.storage import Storage, TokenInfo

bearer = HTTPBearer(auto_error=False, description="an API token from `medimg token create`")
api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same token, as a header")
basic = HTTPBasic(auto_error=False, description="the same token as the password (any user name)")


def get_storage(request: Request) -> Storage:
    """The app's database (opened once in the lifespan)."""
    storage: Storage = request.app.state.storage
    return storage


def require_token(
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    key: str | None = Depends(api_key),
    login: HTTPBasicCredentials | None = Depends(basic),
    storage: Storage = Depends(get_storage),
) -> TokenInfo:
    """The caller's token record, or 401 (missing, unknown or revoked token)."""
    token = credentials.credentials if credentials is not None else key
    if not token and login is not None:
        token = login.password or login.username
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an API token is required: send 'Authorization: Bearer <token>' (create one with `medimg token create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    info = storage.verify_token(token.strip())
    if info is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the API token is unknown or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return info
