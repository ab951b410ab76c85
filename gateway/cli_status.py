"""`safesmart-gateway status`: is this gateway set up, running and in touch with its city?

Reads the data folder (enrollment, cameras) and asks the running gateway's local API (health and
requests). Exit status 0 when nothing needs the resident, 1 when something does, each problem
said with what to do about it: usable from a terminal, a cron job or a service check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

from protocol.timeutil import format_time, parse_time, utcnow

from .cli_requests import LocalApiError, call_local_api
from .config import DataLayout
from .store import GatewayStore

# Request states that wait on the resident while the city's respond-by time is ahead (a pending
# request expires then; a failed one is history).
_WAITING = {"pending": "waiting for your answer", "failed": "failed (`requests retry ID`)"}


def gather(args: argparse.Namespace) -> dict[str, Any]:
    """What the data folder and the running gateway say, and the problems found in it."""
    layout = DataLayout(Path(args.data))
    layout.require()
    store = GatewayStore(layout.db)
    city = store.pinned_city()
    cameras = Counter(camera.status.value for camera in store.cameras())
    problems: list[str] = []
    report: dict[str, Any] = {
        "name": store.name,
        "data": str(layout.root),
        "city": None
        if city is None
        else {
            "name": city.name,
            "url": city.url,
            "fingerprint": city.fingerprint,
            "enrolled_at": format_time(city.enrolled_at),
        },
        "cameras": dict(sorted(cameras.items())),
        "running": False,
        "health": None,
        "requests": {},
        "problems": problems,
    }
    if city is None:
        problems.append(
            "not enrolled with a city: ask your city for an enrollment code and run "
            "`safesmart-gateway enroll`"
        )
    elif not cameras.get("registered"):
        problems.append(
            "no camera is registered with the city: add one with `safesmart-gateway camera add`"
        )
    try:
        health, listed = asyncio.run(_ask(args))
    except LocalApiError as err:
        problems.append(str(err))
        return report
    report.update(
        running=True,
        health=health,
        requests=dict(sorted(Counter(r["state"] for r in listed["requests"]).items())),
    )
    link = health.get("city")
    if city is not None and link is not None and not link["connected"]:
        since = link["last_contact"] or "never since the gateway started"
        reason = link.get("error") or "no answer yet"
        problems.append(f"the gateway cannot reach its city ({reason}); last contact: {since}")
    now = utcnow()
    for state, meaning in _WAITING.items():
        waiting = [
            r
            for r in listed["requests"]
            if r["state"] == state and parse_time(r["respond_by"], "respond_by") > now
        ]
        if count := len(waiting):
            problems.append(
                f"{count} request(s) {meaning}; see `safesmart-gateway requests list "
                f"--state {state}`"
            )
    return report


async def _ask(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        await call_local_api(args, "GET", "/health"),
        await call_local_api(args, "GET", "/requests"),
    )


def _ago(moment: str | None) -> str:
    if moment is None:
        return "never"
    seconds = max(0, round((utcnow() - parse_time(moment)).total_seconds()))
    return f"{moment} ({seconds} s ago)"


def render(report: dict[str, Any]) -> str:
    """The report as a few lines for a person."""
    lines = [f"Gateway: {report['name']} ({report['data']})"]
    city = report["city"]
    lines.append(
        "City: not enrolled"
        if city is None
        else f"City: {city['name']} at {city['url']}, key {city['fingerprint']}, "
        f"enrolled {city['enrolled_at']}"
    )
    cameras = report["cameras"]
    lines.append(
        "Cameras: " + (", ".join(f"{n} {state}" for state, n in cameras.items()) or "none")
    )
    health = report["health"]
    if health is None:
        lines.append("Running: no")
    else:
        lines.append(
            f"Running: yes, version {health['version']}, privacy mode "
            + ("on (every request is declined)" if health["privacy_mode"] else "off")
        )
        link = health["city"]
        if link is not None:
            lines.append(
                f"City connection: {'connected' if link['connected'] else 'lost'}, "
                f"last contact {_ago(link['last_contact'])}"
            )
        lines.append(
            "Requests: "
            + (", ".join(f"{n} {state}" for state, n in report["requests"].items()) or "none")
        )
    lines.extend(f"Needs attention: {problem}" for problem in report["problems"])
    if not report["problems"]:
        lines.append("All is well.")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    report = gather(args)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 1 if report["problems"] else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `status`."""
    parser = subparsers.add_parser(
        "status",
        help="whether the gateway is set up, running and in touch with its city "
        "(exit status 1 when something needs you)",
    )
    parser.add_argument("--api", help="the gateway's local API (default: where `serve` listens)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=cmd_status)
