"""API-token authentication on every /v1 call: ``Authorization: Bearer <token>``, ``X-API-Key: <token>``, or HTTP Basic
with the token as the password (any user name; or as the user name with an empty password), for clients that only
speak Basic auth (DICOM routers, PACS forwarding rules, ``curl -u :TOKEN``)."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer

from medimg.serve.storage import Storage, TokenInfo

bearer = HTTPBearer(auto_error=False, description="an API token from `medimg token create`")
api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same token, as a header")


class _Basic(HTTPBasic):
    """HTTP Basic credentials, or ``None`` when the header's are malformed (not base64 of ``user:password``):
    FastAPI's answered those with a bare 401 "Not authenticated" before the service could say what is wrong."""

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:  # type: ignore[override]
        try:
            return await super().__call__(request)
        except HTTPException:
            return None


basic = _Basic(auto_error=False, description="the same token as the password (any user name)")


def get_storage(request: Request) -> Storage:
    """The app's database (opened once in the lifespan)."""
    storage: Storage = request.app.state.storage
    return storage


#: the challenges of a 401: Bearer, and Basic for clients that send credentials only when asked (curl --anyauth,
#: .NET's CredentialCache, Java's Authenticator, a browser opening a report link)
CHALLENGE = 'Bearer, Basic realm="medimg", charset="UTF-8"'
HOW = (
    "send 'Authorization: Bearer <token>', 'X-API-Key: <token>' or HTTP Basic with the token as the password "
    "(create one with `medimg token create`)"
)


def require_token(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    key: str | None = Depends(api_key),
    login: HTTPBasicCredentials | None = Depends(basic),
    storage: Storage = Depends(get_storage),
) -> TokenInfo:
    """The caller's token record, or 401 (missing, unknown, revoked or expired token; the answer says which)."""
    token = credentials.credentials if credentials is not None else key
    if not token and login is not None:
        token = login.password or login.username
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, _missing(request), headers={"WWW-Authenticate": CHALLENGE})
    info = storage.use_token(token.strip())
    if info is None:
        raise _refused("the API token is unknown or revoked")
    refusal = info.refusal()
    if refusal is not None:  # revoked or expired: said so, with the way out
        raise _refused(f"{refusal}; ask the server's administrator for a new one (`medimg token create`)")
    return info


def _refused(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": CHALLENGE})


def _missing(request: Request) -> str:
    """Why no token was read: none sent, one in the URL, or an Authorization header of another scheme."""
    if any(name.lower() in {"token", "api_key", "apikey", "access_token", "key"} for name in request.query_params):
        return f"a token in the URL is not accepted (URLs are logged and kept in browser history): {HOW}"
    scheme = request.headers.get("authorization", "").strip().split(" ")[0]
    if scheme.lower() == "basic":
        return f"the Authorization header's Basic credentials are not base64 of 'user:token': {HOW}"
    if scheme and scheme.lower() not in {"bearer", "basic"}:
        shown = scheme if len(scheme) <= 20 and scheme.isalpha() else "without a scheme"
        return f"the Authorization header's scheme ({shown}) is not one this service reads: {HOW}"
    return f"an API token is required: {HOW}"
