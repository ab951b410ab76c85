"""A real Home Assistant for the demo: throwaway config, onboarding, the integration, actions.

Home Assistant runs from `.venv-ha` as its own process on 127.0.0.1. Everything here talks
to it the way a person's browser does: onboarding and login over HTTP, the integration set
up through the config-flow REST API, requests approved through the `safesmart.approve` action.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .home_assistant_config import write_config
from .processes import DemoError, Server, free_port, start_server, wait_until

REPO = Path(__file__).resolve().parent.parent
HASS = REPO / ".venv-ha" / "bin" / "hass"
USERNAME = "demo"
START_TIMEOUT_S = 120.0


class HomeAssistantError(DemoError):
    """Home Assistant refused a call or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Entities:
    """The integration's entities the demo watches."""

    footage_request: str
    pending_requests: str
    last_delivery: str

    def __str__(self) -> str:
        return f"{self.footage_request}, {self.pending_requests}, {self.last_delivery}"


@dataclass(frozen=True)
class Sighting:
    """Home Assistant's record of a request it was told about."""

    request_id: str
    event_type: str
    fired_at: datetime

    def ms_after(self, moment: datetime) -> float:
        """Milliseconds from `moment` (same machine clock) to the event."""
        return (self.fired_at - moment).total_seconds() * 1000


class HomeAssistant:
    """A running Home Assistant with an admin session for the demo user."""

    def __init__(self, server: Server, config: Path, listening_s: float) -> None:
        self.server = server
        self.config = config
        self.password = secrets.token_urlsafe(12)
        self.listening_s = listening_s  # from starting the process until its port was open
        self._token = ""

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def client_id(self) -> str:
        # Home Assistant's own web app identifies itself by the instance URL.
        return self.url + "/"

    @property
    def access_token(self) -> str:
        """The demo user's access token (after onboard()), e.g. for HA's WebSocket API."""
        return self._token

    def call(self, method: str, path: str, body: Any = None, form: bool = False) -> Any:
        """One HTTP call; an error answer becomes a HomeAssistantError with HA's message."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        data = None
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - loopback URL we built
            self.url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace").strip()
            raise HomeAssistantError(
                f"Home Assistant answered {err.code} to {method} {path}: {detail}; "
                f"see {self.server.log}",
                err.code,
            ) from err
        except OSError as err:
            raise HomeAssistantError(
                f"Home Assistant cannot be reached ({err}); see {self.server.log}"
            ) from err
        return json.loads(raw) if raw else None

    def onboard(self) -> float:
        """Create the owner through onboarding, log in, finish the remaining steps; seconds."""
        started = time.monotonic()
        wait_until(
            "Home Assistant's onboarding API",
            lambda: self.call("GET", "/api/onboarding"),
            timeout=START_TIMEOUT_S,
            log=self.server.log,
        )
        code = self.call(
            "POST",
            "/api/onboarding/users",
            {"client_id": self.client_id, "name": "Demo resident", "username": USERNAME,
             "password": self.password, "language": "en"},
        )["auth_code"]  # fmt: skip
        tokens = self.call(
            "POST",
            "/auth/token",
            {"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
            form=True,
        )
        self._token = tokens["access_token"]
        self.call("POST", "/api/onboarding/analytics", {})  # nothing is shared: all off
        self.call(
            "POST",
            "/api/onboarding/integration",
            {"client_id": self.client_id, "redirect_uri": self.client_id + "?auth_callback=1"},
        )
        steps = self.call("GET", "/api/onboarding")
        if not all(step["done"] for step in steps):
            raise DemoError(f"Home Assistant's onboarding is not complete: {steps}")
        return time.monotonic() - started

    def add_integration(self, gateway_url: str, gateway_token: str) -> Entities:
        """Set up SafeSmart through the config flow, as the UI does; return its entities."""
        flow = self.call("POST", "/api/config/config_entries/flow", {"handler": "safesmart"})
        if flow.get("type") != "form" or flow.get("step_id") != "user":
            raise DemoError(f"unexpected first step of the SafeSmart config flow: {flow}")
        result = self.call(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"url": gateway_url, "token": gateway_token},
        )
        if result.get("type") != "create_entry":
            raise DemoError(
                f"the SafeSmart config flow did not create an entry: "
                f"{result.get('errors') or result.get('reason') or result}"
            )
        entry_id = result["result"]["entry_id"]
        wait_until(
            "the SafeSmart entry to load",
            lambda: self._entry_state(entry_id) == "loaded",
            timeout=30,
            log=self.server.log,
        )
        return self._entities()

    def _entry_state(self, entry_id: str) -> str | None:
        entries = self.call("GET", "/api/config/config_entries/entry?domain=safesmart")
        return next((e["state"] for e in entries if e["entry_id"] == entry_id), None)

    def _entities(self) -> Entities:
        """Find the integration's entities (their ids follow the gateway's name)."""

        def lookup() -> Entities | None:
            # The rendered template is JSON text, which call() decodes.
            template = "{{ integration_entities('safesmart') | list | tojson }}"
            ids: list[str] = self.call("POST", "/api/template", {"template": template})
            found = [
                next((i for i in ids if i.endswith(suffix)), None)
                for suffix in ("_footage_request", "_pending_requests", "_last_delivery")
            ]
            if any(i is None or self.state(i) is None for i in found):
                return None
            return Entities(*map(str, found))

        result: Entities = wait_until(
            "the SafeSmart entities", lookup, timeout=30, log=self.server.log
        )
        return result

    def state(self, entity_id: str) -> dict[str, Any] | None:
        """An entity's state object, or None while it does not exist."""
        try:
            state: dict[str, Any] = self.call("GET", f"/api/states/{entity_id}")
        except HomeAssistantError as err:
            if err.status == 404:
                return None
            raise
        return state

    def show(self, entity_id: str) -> str:
        """`entity_id = state`, for the demo's output."""
        state = self.state(entity_id)
        return f"{entity_id} = {state['state'] if state else 'missing'}"

    def wait_for_event(
        self, entity_id: str, request_id: str, event_type: str, timeout: float
    ) -> Sighting:
        """Wait until the footage-request event entity fired `event_type` for the request."""

        def sighting() -> Sighting | None:
            state = self.state(entity_id)
            if state is None:
                return None
            attributes = state["attributes"]
            if (attributes.get("request_id"), attributes.get("event_type")) != (
                request_id,
                event_type,
            ):
                return None
            return Sighting(request_id, event_type, datetime.fromisoformat(state["state"]))

        # Polled quickly: the event entity's state is the time it fired, so the
        # latency measured from it does not depend on this interval.
        result: Sighting = wait_until(
            f"Home Assistant to show the request as {event_type}",
            sighting,
            timeout=timeout,
            log=self.server.log,
            interval=0.05,
        )
        return result

    def act(self, action: str, request_id: str) -> None:
        """Call safesmart.approve or safesmart.decline as the demo user."""
        self.call("POST", f"/api/services/safesmart/{action}", {"request_id": request_id})


def start_home_assistant(out: Path, home: tuple[float, float]) -> HomeAssistant:
    """Write a throwaway config folder under `out` and start `hass` on loopback."""
    if not HASS.exists():
        raise DemoError(f"{HASS} is missing; run scripts/setup to build .venv-ha")
    config = out / "homeassistant"
    port = free_port()
    write_config(config, port, home, REPO / "custom_components" / "safesmart")
    started = time.monotonic()
    server = start_server(
        "Home Assistant",
        [str(HASS), "-c", str(config), "--skip-pip", "--log-no-color"],
        port,
        out / "logs" / "homeassistant.log",
        timeout=START_TIMEOUT_S,
    )
    return HomeAssistant(server, config, time.monotonic() - started)


def hold(ha: HomeAssistant, servers: list[Server]) -> None:
    """Leave everything running for a person to click through, until Ctrl-C or SIGTERM."""
    print(
        f"\nHome Assistant is running on {ha.url}\n"
        f"  log in as user {USERNAME!r}, password {ha.password!r}\n"
        f"  Settings → Devices & services → SafeSmart shows the gateway, its sensors and events\n"
        f"press Ctrl-C to stop",
        flush=True,
    )
    try:
        while True:
            for server in servers:
                if server.process.poll() is not None:
                    raise DemoError(f"{server.name} exited; see {server.log}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\ndemo: stopping Home Assistant, the gateway and the city", flush=True)
