"""`safesmart-gateway`: set up, enroll, register cameras, serve, and answer requests."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from protocol.errors import ProtocolError
from protocol.signing import display_fingerprint, key_id

from .audit import AuditError, AuditKind, AuditLog, verify_database
from .cli_requests import register as register_requests
from .cli_serve import register as register_serve
from .cli_status import register as register_status
from .config import ConfigError, DataLayout, GatewayError
from .inbox import InboxError
from .keys import create_api_token, load_device_key, load_or_create_device_key
from .redaction.cli import register as register_redact
from .sources.base import SourceError
from .sources.cli import register as register_sources
from .store import GatewayStore
from .verification import Caps

# The HTTP client and the Ring and Nest libraries load in the commands that need them, so the
# others (`redact` above all) start about a second sooner.
if TYPE_CHECKING:
    from .cityclient import CityClient


def _layout(args: argparse.Namespace) -> DataLayout:
    return DataLayout(Path(args.data))


def cmd_init(args: argparse.Namespace) -> int:
    layout = _layout(args)
    layout.create()
    key, created = load_or_create_device_key(layout.device_key)
    token, _ = create_api_token(layout.api_token)
    store = GatewayStore(layout.db)
    AuditLog(layout.db, key)  # its tables exist from the start, so `audit verify` always works
    if args.name:
        store.set_setting("name", args.name)
    fingerprint = display_fingerprint(key_id(key.public_key()))
    print(("Created" if created else "Found") + f" the gateway in {layout.root}")
    print(f"Device key fingerprint: {fingerprint}")
    print(f"API token file: {layout.api_token}")
    if args.show_token:
        print(f"API token: {token}")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    layout = _layout(args)
    layout.require()
    key = load_device_key(layout.device_key)
    store = GatewayStore(layout.db)
    from .cityclient import CityClient
    from .enrollment import enroll

    async def go() -> int:
        async with CityClient(args.city) as client:
            result = await enroll(store, key, client, code=args.code, label=args.label or "",
                                  expect_fingerprint=args.expect_fingerprint,
                                  replace=args.replace)
        AuditLog(layout.db, key).append(AuditKind.ENROLLED, None, {
            "city_id": result.city.city_id, "city_name": result.city.name,
            "gateway_id": result.city.gateway_id, "fingerprint": result.city.fingerprint,
        })
        print(f"Enrolled with {result.city.name} as gateway {result.city.gateway_id}")
        print(f"City key fingerprint: {result.city.fingerprint}")
        print("Compare it with the one your city published before trusting any request.")
        return 0

    return asyncio.run(go())


def _enrolled_client(layout: DataLayout) -> tuple[GatewayStore, CityClient, AuditLog]:
    layout.require()
    key = load_device_key(layout.device_key)
    store = GatewayStore(layout.db)
    city = store.pinned_city()
    if city is None:
        raise ConfigError("enroll with your city first (`safesmart-gateway enroll`)")
    from .cityclient import CityClient

    client = CityClient(city.url, gateway_id=city.gateway_id, device_key=key)
    return store, client, AuditLog(layout.db, key)


def cmd_camera_add(args: argparse.Namespace) -> int:
    from .cameras import CameraError, NewCamera, add_camera, parse_mask
    from .sources.registry import SourceRegistry

    layout = _layout(args)
    store, client, audit = _enrolled_client(layout)
    if args.source not in {info.name for info in SourceRegistry(layout.root).list()}:
        raise CameraError(f"there is no footage source named {args.source!r}; add it first "
                          "with `safesmart-gateway source add`")
    camera = NewCamera(name=args.name, lat=args.lat, lon=args.lon, source=args.source,
                       device_id=args.device, exact_location=args.exact_location,
                       masks=tuple(parse_mask(m) for m in args.mask or ()))

    async def go() -> int:
        async with client:
            record = await add_camera(store, load_device_key(layout.device_key), client, camera)
        audit.append(AuditKind.CAMERA_REGISTERED, None, {
            "registration_id": record.registration_id, "name": record.name,
            "precision": record.precision,
        })
        where = "its exact location" if record.precision == "exact" else "about a block"
        print(f"Registered {record.name!r} as {record.registration_id} (the city knows {where})")
        return 0

    return asyncio.run(go())


def cmd_camera_list(args: argparse.Namespace) -> int:
    layout = _layout(args)
    layout.require()
    cameras = GatewayStore(layout.db).cameras()
    if not cameras:
        print("No cameras yet; add one with `safesmart-gateway camera add`.")
    for c in cameras:
        print(f"{c.name}\t{c.registration_id or '-'}\t{c.status.value}\t{c.source}:{c.device_id}"
              f"\t{c.precision}\t{len(c.masks)} mask(s)")
    return 0


def cmd_camera_remove(args: argparse.Namespace) -> int:
    from .cameras import withdraw_camera

    layout = _layout(args)
    store, client, audit = _enrolled_client(layout)

    async def go() -> int:
        async with client:
            camera = await withdraw_camera(store, client, args.camera)
        audit.append(AuditKind.CAMERA_WITHDRAWN, None,
                     {"registration_id": camera.registration_id, "name": camera.name})
        print(f"Withdrew {camera.name!r}; the city no longer lists it")
        return 0

    return asyncio.run(go())


def cmd_audit_verify(args: argparse.Namespace) -> int:
    layout = _layout(args)
    layout.require()
    key = load_device_key(layout.device_key)
    result = verify_database(layout.db, key.public_key())
    print(f"{result.entries} entries, {result.checkpoints} checkpoints: "
          + ("intact" if result.ok else "PROBLEMS FOUND"))
    for problem in result.problems:
        print(f"  - {problem}")
    return 0 if result.ok else 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    layout = _layout(args)
    layout.require()
    log = AuditLog(layout.db, load_device_key(layout.device_key))
    log.checkpoint()
    count = log.export(Path(args.file))
    print(f"Exported {count} records; check them with the device key fingerprint "
          f"{display_fingerprint(key_id(load_device_key(layout.device_key).public_key()))}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    layout = _layout(args)
    layout.require()
    token, created = create_api_token(layout.api_token, rotate=args.rotate)
    print(("New token written to " if created else "Token file: ") + str(layout.api_token))
    if args.show:
        print(f"API token: {token}")
    return 0


def cmd_caps(args: argparse.Namespace) -> int:
    layout = _layout(args)
    layout.require()
    store = GatewayStore(layout.db)
    if args.max_window_hours is not None or args.max_radius_m is not None:
        current = store.caps()
        try:
            caps = Caps(
                max_window=current.max_window
                if args.max_window_hours is None
                else timedelta(hours=args.max_window_hours),
                max_radius_m=current.max_radius_m
                if args.max_radius_m is None
                else args.max_radius_m,
            )
        except ValueError as err:
            raise GatewayError(f"{err}; a resident can tighten the caps, not loosen them") from err
        store.set_caps(caps)
    caps = store.caps()
    hours = caps.max_window.total_seconds() / 3600
    print(f"Requests are refused when the window is over {hours:g} h "
          f"or the radius over {caps.max_radius_m:g} m.")  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="safesmart-gateway", description=__doc__)
    from .config import default_data_dir

    parser.add_argument("--data", type=Path, default=default_data_dir(),
                        help="data folder (default $SAFESMART_DATA or ~/.local/share/safesmart)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create the device key and API token")
    p.add_argument("--name", help="a name for this gateway")
    p.add_argument("--show-token", action="store_true", help="print the API token")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("enroll", help="enroll with a city using a one-time code")
    p.add_argument("--city", required=True, help="the city's address, https://...")
    p.add_argument("--code", required=True, help="the one-time enrollment code")
    p.add_argument("--expect-fingerprint", help="the city key fingerprint the city published")
    p.add_argument("--label", help="how the city should label this gateway")
    p.add_argument("--replace", action="store_true", help="switch to a different city key")
    p.set_defaults(handler=cmd_enroll)

    cam = sub.add_parser("camera", help="register cameras with the city").add_subparsers(
        dest="camera_command", required=True)
    p = cam.add_parser("add", help="register a camera")
    p.add_argument("--name", required=True)
    p.add_argument("--lat", type=float, required=True)
    p.add_argument("--lon", type=float, required=True)
    p.add_argument("--exact-location", action="store_true",
                   help="tell the city the exact location (default: about a block)")
    p.add_argument("--source", required=True, help="the footage source's name")
    p.add_argument("--device", required=True, help="the camera's id in that source")
    p.add_argument("--mask", action="append", help='privacy mask polygon "x,y x,y x,y" (0..1)')
    p.set_defaults(handler=cmd_camera_add)
    cam.add_parser("list", help="list cameras").set_defaults(handler=cmd_camera_list)
    p = cam.add_parser("remove", help="withdraw a camera")
    p.add_argument("camera", help="name or registration id")
    p.set_defaults(handler=cmd_camera_remove)

    register_serve(sub)
    register_status(sub)
    register_requests(sub)

    aud = sub.add_parser("audit", help="the tamper-evident log").add_subparsers(
        dest="audit_command", required=True)
    aud.add_parser("verify", help="check the log").set_defaults(handler=cmd_audit_verify)
    p = aud.add_parser("export", help="export the log as JSON Lines")
    p.add_argument("file")
    p.set_defaults(handler=cmd_audit_export)

    p = sub.add_parser("caps", help="show or tighten the limits a request must respect")
    p.add_argument("--max-window-hours", type=float, help="longest window (at most 12)")
    p.add_argument("--max-radius-m", type=float, help="largest radius in metres (at most 800)")
    p.set_defaults(handler=cmd_caps)

    p = sub.add_parser("token", help="the local API token")
    p.add_argument("--rotate", action="store_true", help="replace the token")
    p.add_argument("--show", action="store_true", help="print the token")
    p.set_defaults(handler=cmd_token)

    register_redact(sub)
    register_sources(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except (GatewayError, ProtocolError, SourceError, AuditError, InboxError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
