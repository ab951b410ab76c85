"""Google OAuth for the Nest Smart Device Management API: sign-in and token refresh."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from google_nest_sdm.auth import AbstractAuth

from .base import ReauthRequiredError, SourceError, SourceUnavailableError
from .token_store import TokenStore

SDM_API_URL = "https://smartdevicemanagement.googleapis.com/v1"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - an endpoint, not a secret
AUTHORIZE_URL = "https://nestservices.google.com/partnerconnections/{project_id}/auth"
SCOPES = (
    "https://www.googleapis.com/auth/sdm.service",
    "https://www.googleapis.com/auth/pubsub",
)
# The redirect Google's Device Access console accepts for installed apps without a web server.
DEFAULT_REDIRECT = "https://www.google.com"
_EARLY_REFRESH_S = 60


@dataclass(frozen=True)
class NestProject:
    """The resident's Device Access project and OAuth client (its secret sits with the token)."""

    project_id: str
    client_id: str


def authorization_url(project: NestProject, redirect_uri: str = DEFAULT_REDIRECT) -> str:
    """The page where the resident grants access and receives a one-time code."""
    query = urlencode(
        {
            "redirect_uri": redirect_uri,
            "access_type": "offline",
            "prompt": "consent",
            "client_id": project.client_id,
            "response_type": "code",
            "scope": " ".join(SCOPES),
        }
    )
    return f"{AUTHORIZE_URL.format(project_id=project.project_id)}?{query}"


async def _token_request(
    session: aiohttp.ClientSession, form: dict[str, str], account: str
) -> dict[str, Any]:
    try:
        async with session.post(TOKEN_URL, data=form) as response:
            body = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        message = f"Google could not be reached to sign in to {account}."
        raise SourceUnavailableError(message) from exc
    refused = isinstance(body, dict) and body.get("error") == "invalid_grant"
    if status in (400, 401) and refused:
        raise ReauthRequiredError(
            f"Google no longer accepts the sign-in for {account} (it was revoked, expired, or "
            "the project is in Testing mode, where grants last 7 days); sign in again."
        )
    if status != 200 or not isinstance(body, dict) or "access_token" not in body:
        raise SourceError(f"Google refused the sign-in for {account} (HTTP {status}).")
    return body


async def nest_sign_in(
    token_path: Path,
    project: NestProject,
    client_secret: str,
    code: str,
    session: aiohttp.ClientSession,
    redirect_uri: str = DEFAULT_REDIRECT,
) -> None:
    """Exchange the one-time authorization code for tokens, kept in `token_path` (0600)."""
    store = TokenStore(token_path, "Google Nest")
    body = await _token_request(
        session,
        {
            "grant_type": "authorization_code",
            "code": code.strip(),
            "client_id": project.client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
        },
        "Google Nest",
    )
    if "refresh_token" not in body:
        raise SourceError(
            "Google returned no refresh token; remove SafeSmart's access in your Google "
            "account's third-party connections and sign in again."
        )
    store.save_field("client_secret", client_secret)
    store.save_token(_with_expiry(body))


def _with_expiry(body: dict[str, Any]) -> dict[str, Any]:
    kept = ("access_token", "refresh_token", "token_type")
    token: dict[str, Any] = {k: body[k] for k in kept if k in body}
    token["expires_at"] = time.time() + float(body.get("expires_in", 3600))
    return token


class NestAuth(AbstractAuth):
    """Bearer tokens for SDM calls, refreshed before they expire and saved on every change."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token_path: Path,
        project: NestProject,
        host: str = SDM_API_URL,
    ) -> None:
        super().__init__(session, host)
        self._session = session
        self._store = TokenStore(token_path, "Google Nest")
        self._project = project
        self._lock = asyncio.Lock()

    async def async_get_access_token(self) -> str:
        """A valid access token; refreshes (once, under a lock) when it is about to expire."""
        async with self._lock:
            state = self._store.load()
            token: dict[str, Any] = state["token"]
            if float(token.get("expires_at", 0)) - _EARLY_REFRESH_S > time.time():
                return str(token["access_token"])
            secret = state.get("client_secret")
            if not isinstance(secret, str) or "refresh_token" not in token:
                raise ReauthRequiredError("The Google Nest sign-in is incomplete; sign in again.")
            body = await _token_request(
                self._session,
                {
                    "grant_type": "refresh_token",
                    "refresh_token": str(token["refresh_token"]),
                    "client_id": self._project.client_id,
                    "client_secret": secret,
                },
                "Google Nest",
            )
            # Google omits the refresh token on refresh; keep the one we have.
            renewed = _with_expiry({"refresh_token": token["refresh_token"], **body})
            self._store.save_token(renewed)
            return str(renewed["access_token"])
