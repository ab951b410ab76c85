"""`safesmart-city`: initialise, serve, enroll gateways, issue requests, inspect uploads."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol.errors import ProtocolError
from protocol.geo import GeoPoint

from .config import DEFAULT_HOST, DEFAULT_PORT, CityConfig, initialise
from .errors import CityError
from .keys import CityKeys
from .requestform import add_request_flags, post_request, request_body
from .store import CityStore

DATA_ENV = "SAFESMART_CITY_DATA"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `safesmart-city` console script."""
    args = _parser().parse_args(argv)
    try:
        result: int = args.run(args)
        return result
    except (CityError, ProtocolError, OSError) as err:
        print(f"safesmart-city: {err}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="safesmart-city", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, run: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        default = Path(os.environ.get(DATA_ENV, "city-data"))
        sub.add_argument("--data", type=Path, default=default, help=f"data folder (${DATA_ENV})")
        sub.set_defaults(run=run)
        return sub

    init = command("init", _init, "create the city keys and admin token")
    init.add_argument("--name", required=True, help="the city's name as residents see it")
    serve = command("serve", _serve, "run the city endpoint")
    serve.add_argument("--listen", default=f"{DEFAULT_HOST}:{DEFAULT_PORT}", help="HOST:PORT")
    serve.add_argument("--allow-remote", action="store_true", help="allow a non-loopback address")
    command("enroll-code", _enroll_code, "create a one-time enrollment code (valid 7 days)")
    request = command("request", _request, "issue a footage request through the running server")
    request.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8800")
    add_request_flags(request)
    search = command("search", _search, "registered cameras within a radius, nearest first")
    search.add_argument("--lat", type=float, required=True)
    search.add_argument("--lon", type=float, required=True)
    search.add_argument("--radius", type=float, required=True, help="metres")
    command("uploads", _uploads, "list received uploads, newest first")
    opener = command("open", _open, "verify and decrypt an upload for an investigator")
    opener.add_argument("upload_id")
    opener.add_argument("--out", type=Path, required=True, help="where to write the clip")
    verify = command("verify", _verify, "check an upload against its signed manifest")
    verify.add_argument("upload_id")
    command("transparency", _transparency, "print the public figures")
    return parser


def _print(value: object) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def _keys(config: CityConfig) -> CityKeys:
    return CityKeys.load_or_create(config.keys_dir, config.name)


def _init(args: argparse.Namespace) -> int:
    config, keys = initialise(args.data, args.name)
    print(f"city:        {keys.name} ({keys.city_id})")
    print(f"fingerprint: {keys.fingerprint()}")
    print(f"data:        {config.data}")
    print(f"admin token: {config.data / 'admin-token'} (mode 0600)")
    return 0


def parse_listen(listen: str, allow_remote: bool) -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets); a non-loopback host needs `allow_remote`."""
    host, sep, port_text = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise CityError(f"--listen must be HOST:PORT, got {listen!r}")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback and not allow_remote:
            raise CityError(
                f"refusing to listen on {host}: not a loopback address; "
                "pass --allow-remote (behind TLS) if you mean it"
            )
    return host, int(port_text)


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .app import SHUTDOWN_TIMEOUT_S, create_app

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    host, port = parse_listen(args.listen, args.allow_remote)
    config = CityConfig.load(args.data, host=host, port=port)
    app = create_app(config)
    print(f"SafeSmart city endpoint on http://{host}:{port}", flush=True)
    web.run_app(
        app, host=host, port=port, shutdown_timeout=SHUTDOWN_TIMEOUT_S, print=None,
        access_log=None,
    )  # fmt: skip
    return 0


def _enroll_code(args: argparse.Namespace) -> int:
    from .enrollment import create_code

    config = CityConfig.load(args.data)
    store = CityStore(config.db_path)
    try:
        code, expires = create_code(store)
    finally:
        store.close()
    print(f"code:        {code}")
    print(f"expires:     {expires:%Y-%m-%d %H:%M} UTC")
    print(f"fingerprint: {_keys(config).fingerprint()}  (the resident checks this)")
    return 0


def _request(args: argparse.Namespace) -> int:
    config = CityConfig.load(args.data)
    status, answer = asyncio.run(post_request(args.url, config.admin_token, request_body(args)))
    _print(answer)
    return 0 if status == 201 else 1


def _search(args: argparse.Namespace) -> int:
    from .registry import describe, search_area

    config = CityConfig.load(args.data)
    store = CityStore(config.db_path)
    try:
        try:
            centre = GeoPoint(args.lat, args.lon)
        except ValueError as err:
            raise CityError(str(err)) from err
        _print(describe(store, search_area(store, centre, args.radius)))
    finally:
        store.close()
    return 0


def _uploads(args: argparse.Namespace) -> int:
    from .uploads import UploadReceiver

    config = CityConfig.load(args.data)
    store = CityStore(config.db_path)
    try:
        receiver = UploadReceiver(
            config.db_path, config.uploads_dir, _keys(config), store.gateway_key
        )
        _print(receiver.list_uploads())
    finally:
        store.close()
    return 0


def _open(args: argparse.Namespace) -> int:
    from .opening import open_upload
    from .verification import VerificationError

    config = CityConfig.load(args.data)
    try:
        manifest = open_upload(
            config.db_path, config.uploads_dir, _keys(config), args.upload_id, args.out
        )
    except VerificationError as err:
        raise CityError(str(err)) from err
    _print(manifest)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .verification import VerificationError, verify_upload

    config = CityConfig.load(args.data)
    store = CityStore(config.db_path)
    try:
        result = verify_upload(
            config.db_path, config.uploads_dir, _keys(config), args.upload_id, store.gateway_key
        )
    except VerificationError as err:
        raise CityError(str(err)) from err
    finally:
        store.close()
    _print(result)
    return 0


def _transparency(args: argparse.Namespace) -> int:
    from .transparency import figures

    config = CityConfig.load(args.data)
    store = CityStore(config.db_path)
    try:
        _print(figures(store))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
