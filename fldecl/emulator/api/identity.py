"""Cloud Pak for Data sign-in: ``/icp4d-api/v1/authorize`` and the bedrock (IAM) pair."""

from __future__ import annotations

from urllib.parse import parse_qs

from fldecl.emulator.app import EmulatorApp
from fldecl.emulator.auth import TOKEN_LIFETIME_SECONDS
from fldecl.emulator.routing import ApiError, Request, Response, RouteTable

routes = RouteTable()


@routes.post("/icp4d-api/v1/authorize", auth=False)
def authorize(app: EmulatorApp, request: Request) -> Response:
    """Answers in CP4D's own shape (``_messageCode_``), not WML's ``errors`` list."""
    body = request.json_object()
    username = body.get("username")
    field = "api_key" if "api_key" in body else "password"
    if not isinstance(username, str) or not app.account.accepts(username, body.get(field), field=field):
        return Response.json(401, {"_messageCode_": "401", "message": "Invalid username or password."})
    return Response.json(200, {"_messageCode_": "200", "message": "Success",
                               "token": app.tokens.issue(username)})


@routes.post("/idprovider/v1/auth/identitytoken", auth=False)
def identity_token(app: EmulatorApp, request: Request) -> Response:
    form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
    username = form.get("username")
    if form.get("grant_type") != "password" or username is None \
            or not app.account.accepts(username, form.get("password"), field="password"):
        raise ApiError(401, "invalid_grant", "Invalid username or password.")
    return Response.json(200, {"access_token": app.tokens.issue(username, purpose="identity"),
                               "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECONDS})


@routes.get("/v1/preauth/validateAuth", auth=False)
def validate_auth(app: EmulatorApp, request: Request) -> Response:
    username = app.tokens.verify(request.headers.get("iam-token") or "", purpose="identity")
    if username is None or username != request.headers.get("username"):
        raise ApiError(401, "authentication_failed", "The identity token is missing, invalid or for another user.")
    return Response.json(200, {"username": username, "role": "Admin", "accessToken": app.tokens.issue(username)})
