"""The `safesmart-city request` form: flags or a JSON file, posted to the admin API."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from typing import Any

import aiohttp

from protocol.messages import IncidentType, LegalBasis
from protocol.timeutil import format_time, parse_time, utcnow

from .errors import CityError

# flag -> (dest, help); all needed unless --json is given.
REQUIRED_FLAGS = {
    "--case": ("case", "case number"),
    "--agency": ("agency", "agency name"),
    "--agency-id": ("agency_id", "agency identifier"),
    "--officer": ("officer", "officer name"),
    "--type": ("type", "incident type: " + ", ".join(t.value for t in IncidentType)),
    "--description": ("description", "what happened"),
    "--lat": ("lat", "incident latitude"),
    "--lon": ("lon", "incident longitude"),
    "--radius": ("radius", "radius in metres (at most 800)"),
    "--start": ("start", "window start, RFC 3339"),
    "--end": ("end", "window end, RFC 3339 (at most 12 h after the start)"),
}


def add_request_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=argparse.FileType("rb"), help="the whole request as JSON")
    for flag, (dest, help_text) in REQUIRED_FLAGS.items():
        kind = float if dest in ("lat", "lon", "radius") else str
        parser.add_argument(flag, dest=dest, type=kind, help=help_text)
    parser.add_argument("--badge", default="")
    parser.add_argument("--email", default="")
    parser.add_argument("--phone", default="")
    parser.add_argument("--respond-by", help="RFC 3339; default 7 days from now")
    parser.add_argument(
        "--legal-basis", default=LegalBasis.VOLUNTARY.value, choices=[b.value for b in LegalBasis]
    )
    parser.add_argument("--retention-days", type=int, default=90)
    parser.add_argument("--public-record", action="store_true", help="footage may become public")
    parser.add_argument("--testify", action="store_true", help="resident may be asked to testify")
    parser.add_argument("--name-in-court", action="store_true", help="name may appear in court")
    parser.add_argument("--notes", default="")
    parser.add_argument("--camera", action="append", help="registration id (default: all in area)")


def request_body(args: argparse.Namespace) -> dict[str, Any]:
    """The admin API body, from --json or from the flags."""
    if args.json is not None:
        try:
            loaded = json.load(args.json)
        except ValueError as err:
            raise CityError(f"{args.json.name} is not valid JSON: {err}") from err
        if not isinstance(loaded, dict):
            raise CityError(f"{args.json.name} must hold a JSON object")
        return dict(loaded)
    missing = [flag for flag, (dest, _) in REQUIRED_FLAGS.items() if getattr(args, dest) is None]
    if missing:
        raise CityError("give --json FILE or all of: " + " ".join(missing))
    respond_by = args.respond_by or format_time(utcnow() + timedelta(days=7))
    body: dict[str, Any] = {
        "case_number": args.case,
        "agency": {"name": args.agency, "id": args.agency_id},
        "officer": {"name": args.officer, "badge": args.badge, "email": args.email,
                    "phone": args.phone},
        "incident": {"type": args.type, "description": args.description,
                     "point": {"lat": args.lat, "lon": args.lon}, "radius_m": args.radius},
        "window": {"start": format_time(parse_time(args.start, "--start")),
                   "end": format_time(parse_time(args.end, "--end"))},
        "respond_by": respond_by,
        "legal_basis": args.legal_basis,
        "disclosures": {"retention_days": args.retention_days,
                        "may_become_public_record": args.public_record,
                        "may_be_asked_to_testify": args.testify,
                        "name_may_appear_in_court_documents": args.name_in_court,
                        "notes": args.notes},
    }  # fmt: skip
    if args.camera:
        body["registration_ids"] = args.camera
    return body


async def post_request(url: str, admin_token: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST the body to the server so that long-polling gateways wake at once."""
    endpoint = url.rstrip("/") + "/v1/admin/requests"
    headers = {"Authorization": f"Bearer {admin_token}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(endpoint, json=body, headers=headers) as response,
        ):
            return response.status, await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as err:
        raise CityError(f"the city server at {url} cannot be reached ({err})") from err
