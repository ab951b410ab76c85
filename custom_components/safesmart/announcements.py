"""Telling the resident about requests: bus event, persistent notification, phone prompts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util

from .client import Request, RequestState
from .const import (
    ACTION_PREFIX,
    CONF_CAMERA_MAP,
    CONF_NOTIFY_SERVICES,
    DOMAIN,
    EVENT_FOOTAGE_REQUEST,
    LOGGER,
)
from .coordinator import SafeSmartConfigEntry

_YES_NO = {True: "yes", False: "no"}


def request_tag(request_id: str) -> str:
    """Non-secret tag that names a request's notifications (replace, clear, match)."""
    return f"safesmart-{request_id}"


def notification_id(request_id: str) -> str:
    """Id of a request's persistent notification."""
    return f"{DOMAIN}_{request_id}"


def _local(value: datetime) -> str:
    return dt_util.as_local(value).strftime("%Y-%m-%d %H:%M")


def event_data(
    entry: SafeSmartConfigEntry, request: Request, camera_map: Mapping[str, str]
) -> dict[str, Any]:
    """Everything a consent rule needs; never the approval nonce (the bus is widely readable)."""
    cameras = [
        {
            "registration_id": camera.registration_id,
            "name": camera.name,
            "distance_m": round(camera.distance_m, 1),
            "camera_entity_id": camera_map.get(camera.registration_id),
        }
        for camera in request.cameras
    ]
    distances = [camera.distance_m for camera in request.cameras]
    disclosures = request.disclosures
    return {
        "config_entry_id": entry.entry_id,
        "gateway_id": entry.unique_id,
        "request_id": request.id,
        "tag": request_tag(request.id),
        "state": request.state.value,
        "agency": request.agency_name,
        "agency_id": request.agency_id,
        "case_number": request.case_number,
        "incident_type": request.incident.type,
        "incident_description": request.incident.description,
        "cameras": cameras,
        "min_distance_m": round(min(distances), 1) if distances else None,
        "window_start": request.window_start.isoformat(),
        "window_end": request.window_end.isoformat(),
        "window_minutes": request.window_minutes,
        "legal_basis": request.legal_basis.value,
        "respond_by": request.respond_by.isoformat(),
        "received_at": request.received_at.isoformat(),
        "disclosures": {
            "retention_days": disclosures.retention_days,
            "may_become_public_record": disclosures.may_become_public_record,
            "may_be_asked_to_testify": disclosures.may_be_asked_to_testify,
            "name_may_appear_in_court_documents": disclosures.name_may_appear_in_court_documents,
            "notes": disclosures.notes,
        },
    }


def request_summary(request: Request) -> str:
    """Markdown text a resident reads before deciding."""
    cameras = ", ".join(f"{c.name} ({c.distance_m:.0f} m)" for c in request.cameras) or "none"
    d = request.disclosures
    lines = [
        f"**{request.agency_name}** asks for footage for case {request.case_number} "
        f"({request.incident.type}): {request.incident.description}",
        "",
        f"- Window: {_local(request.window_start)} to {_local(request.window_end)} "
        f"({request.window_minutes} min)",
        f"- Cameras: {cameras}",
        f"- Respond by: {_local(request.respond_by)}",
        f"- Legal basis: {request.legal_basis.value}",
        f"- Kept for {d.retention_days} days; may become a public record: "
        f"{_YES_NO[d.may_become_public_record]}; you may be asked to testify: "
        f"{_YES_NO[d.may_be_asked_to_testify]}; your name may appear in court documents: "
        f"{_YES_NO[d.name_may_appear_in_court_documents]}",
    ]
    if d.notes:
        lines.append(f"- City's notes: {d.notes}")
    lines += ["", f"Request id: `{request.id}`"]
    return "\n".join(lines)


def phone_payload(request: Request, camera_map: Mapping[str, str]) -> dict[str, Any]:
    """Actionable notification for notify.mobile_app_*: Approve needs the phone unlocked."""
    suffix = f"{request.id}_{request.approval_nonce}"
    data: dict[str, Any] = {
        "tag": request_tag(request.id),
        "group": DOMAIN,
        "actions": [
            {
                "action": f"{ACTION_PREFIX}_APPROVE_{suffix}",
                "title": "Approve",
                "authenticationRequired": True,
            },
            {"action": f"{ACTION_PREFIX}_DECLINE_{suffix}", "title": "Decline"},
        ],
    }
    for camera in request.cameras:
        if (entity_id := camera_map.get(camera.registration_id)) is not None:
            data["image"] = f"/api/camera_proxy/{entity_id}"
            data["entity_id"] = entity_id
            break
    message = (
        f"{request.agency_name}, case {request.case_number} ({request.incident.type}), "
        f"{request.window_minutes} min, {request.legal_basis.value}. "
        f"Respond by {_local(request.respond_by)}."
    )
    return {"title": "Footage request", "message": message, "data": data}


class Announcer:
    """Announces new pending requests and clears their prompts once they are decided."""

    def __init__(self, hass: HomeAssistant, entry: SafeSmartConfigEntry) -> None:
        """Bind to one config entry; options are read at each announcement."""
        self._hass = hass
        self._entry = entry

    @property
    def _camera_map(self) -> dict[str, str]:
        return dict(self._entry.options.get(CONF_CAMERA_MAP, {}))

    @callback
    def async_show_existing(self, requests: Mapping[str, Request]) -> None:
        """At start-up, show pending requests without re-sending events or phone prompts."""
        for request in requests.values():
            if request.state is RequestState.PENDING:
                self._show(request)

    @callback
    def async_request_changed(self, old: Request | None, new: Request) -> None:
        """Announce a request that became pending; withdraw prompts for decided ones."""
        if new.state is RequestState.PENDING and (old is None or old.state != new.state):
            self._hass.bus.async_fire(
                EVENT_FOOTAGE_REQUEST, event_data(self._entry, new, self._camera_map)
            )
            self._show(new)
            self._send_to_phones(phone_payload(new, self._camera_map))
        elif (
            new.state is not RequestState.PENDING
            and old is not None
            and old.state is (RequestState.PENDING)
        ):
            persistent_notification.async_dismiss(self._hass, notification_id(new.id))
            self._send_to_phones(
                {"message": "clear_notification", "data": {"tag": request_tag(new.id)}}
            )

    def _show(self, request: Request) -> None:
        persistent_notification.async_create(
            self._hass,
            request_summary(request),
            title=f"SafeSmart: footage request from {request.agency_name}",
            notification_id=notification_id(request.id),
        )

    def _send_to_phones(self, payload: dict[str, Any]) -> None:
        for service in self._entry.options.get(CONF_NOTIFY_SERVICES, []):
            self._entry.async_create_background_task(
                self._hass, self._async_notify(service, payload), f"{DOMAIN} notify {service}"
            )

    async def _async_notify(self, service: str, payload: dict[str, Any]) -> None:
        domain, _, name = service.partition(".")
        try:
            await self._hass.services.async_call(domain, name, payload, blocking=True)
        except Exception as err:
            LOGGER.warning("Could not notify %s about a footage request: %s", service, err)
