"""`safesmart-gateway requests ...`: answer requests through the running gateway's local API."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from .config import API_PREFIX, DataLayout, GatewayError
from .keys import read_api_token
from .store import GatewayStore


class LocalApiError(GatewayError):
    """The running gateway could not be reached or refused the command."""


def _api_url(args: argparse.Namespace) -> str:
    if args.api:
        return str(args.api).rstrip("/")
    layout = DataLayout(Path(args.data))
    layout.require()
    return GatewayStore(layout.db).get_setting("api_url") or "http://127.0.0.1:8765"


async def call_local_api(args: argparse.Namespace, method: str, path: str,
                         body: dict[str, Any] | None = None) -> Any:
    """One authenticated call to the running gateway; problem documents become errors."""
    import aiohttp  # here, not at the top: the other commands start faster without it

    token = read_api_token(DataLayout(Path(args.data)).api_token)
    url = _api_url(args) + API_PREFIX + path
    try:
        async with aiohttp.ClientSession() as session, session.request(
            method, url, json=body, headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            payload = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as err:
        raise LocalApiError(
            "the gateway is not running (start it with `safesmart-gateway serve`)") from err
    doc = json.loads(payload) if payload else None
    if status >= 400:
        detail = doc.get("detail") if isinstance(doc, dict) else None
        raise LocalApiError(f"{detail or 'the gateway refused'} ({status})")
    return doc


def _summary(request: dict[str, Any]) -> str:
    cams = ", ".join(f"{c['name']} ({c['distance_m']:.0f} m, {c['state']})"
                     for c in request["cameras"])
    return (f"{request['id']}  {request['state']:<9} {request['case_number']}  "
            f"{request['incident']['type']}  {request['window_minutes']} min  "
            f"{request['legal_basis']}  {request['agency']['name']}  [{cams}]")


def _details(request: dict[str, Any]) -> str:
    d = request["disclosures"]
    lines = [
        _summary(request),
        f"Officer: {request['officer']['name']} ({request['officer']['badge']}), "
        f"{request['officer']['email']}, {request['officer']['phone']}",
        f"Incident: {request['incident']['description']}",
        f"Window: {request['window']['start']} to {request['window']['end']}",
        f"Respond by: {request['respond_by']}",
        f"Kept for {d['retention_days']} days; may become a public record: "
        f"{'yes' if d['may_become_public_record'] else 'no'}; you may be asked to testify: "
        f"{'yes' if d['may_be_asked_to_testify'] else 'no'}; your name may appear in court "
        f"documents: {'yes' if d['name_may_appear_in_court_documents'] else 'no'}",
    ]
    if d.get("notes"):
        lines.append(f"Notes: {d['notes']}")
    lines.append(f"Preview: {request['preview']['status']}; decided by: "
                 f"{request['decided_by'] or '-'}")
    for cam in request["cameras"]:
        if cam.get("detail"):
            lines.append(f"  {cam['name']}: {cam['detail']}")
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    query = f"?state={args.state}" if args.state else ""
    doc = asyncio.run(call_local_api(args, "GET", "/requests" + query))
    if not doc["requests"]:
        print("No requests.")
    for request in doc["requests"]:
        print(_summary(request))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    doc = asyncio.run(call_local_api(args, "GET", f"/requests/{args.id}"))
    print(json.dumps(doc, indent=2) if args.json else _details(doc))
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.camera:
        body["cameras"] = args.camera
    if args.start or args.end:
        if not (args.start and args.end):
            raise LocalApiError("give both --start and --end to narrow the window")
        body["window"] = {"start": args.start, "end": args.end}
    doc = asyncio.run(call_local_api(args, "POST", f"/requests/{args.id}/approve", body))
    print(f"Approved; the gateway now redacts and uploads ({doc['state']})")
    return 0


def cmd_decline(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.camera:
        body["cameras"] = args.camera
    if args.reply:
        body["reply"] = args.reply
    asyncio.run(call_local_api(args, "POST", f"/requests/{args.id}/decline", body))
    told = "the city was sent your reply" if args.reply else "the city is not told who declined"
    print(f"Declined; {told}")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"cameras": args.camera} if args.camera else {}
    doc = asyncio.run(call_local_api(args, "POST", f"/requests/{args.id}/retry", body))
    print(f"Retrying the failed cameras; already sealed parts are not sealed again "
          f"({doc['state']})")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `requests list|show|approve|decline|retry`."""
    parser = subparsers.add_parser("requests", help="footage requests from the city")
    parser.add_argument("--api", help="the gateway's local API (default: where `serve` listens)")
    sub = parser.add_subparsers(dest="requests_command", required=True)
    p = sub.add_parser("list", help="list requests, newest first")
    p.add_argument("--state", help="only requests in this state (e.g. pending)")
    p.set_defaults(handler=cmd_list)
    p = sub.add_parser("show", help="a request with the city's disclosures")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)
    p = sub.add_parser("approve", help="approve; the footage is redacted, sealed and uploaded")
    p.add_argument("id")
    p.add_argument("--camera", action="append", help="only this registration id (repeatable)")
    p.add_argument("--start", help="narrower window start (RFC 3339)")
    p.add_argument("--end", help="narrower window end (RFC 3339)")
    p.set_defaults(handler=cmd_approve)
    p = sub.add_parser("decline", help="decline (private unless you reply)")
    p.add_argument("id")
    p.add_argument("--camera", action="append", help="only this registration id (repeatable)")
    p.add_argument("--reply", help="a message for the city (tells them who declined)")
    p.set_defaults(handler=cmd_decline)
    p = sub.add_parser("retry", help="run failed cameras again (e.g. after the city was down)")
    p.add_argument("id")
    p.add_argument("--camera", action="append", help="only this failed camera (repeatable)")
    p.set_defaults(handler=cmd_retry)
