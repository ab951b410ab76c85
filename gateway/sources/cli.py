"""`source add|set|remove|list` and `fetch`: connecting footage sources and pulling recordings."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocol.errors import ProtocolError
from protocol.timeutil import TimeWindow, format_time, parse_time

from .base import SourceError

if TYPE_CHECKING:
    from .registry import SourceRegistry

type SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(subparsers: SubParsers) -> None:
    """Add `source ...` and `fetch` to a CLI whose global `--data` gives `args.data`."""
    source = subparsers.add_parser("source", help="footage sources (folder, Ring, Nest)")
    commands = source.add_subparsers(dest="source_command", required=True)

    add = commands.add_parser("add", help="connect a footage source").add_subparsers(
        dest="source_kind", required=True
    )
    p = add.add_parser("folder", help="a folder of recordings (Frigate, NVR export, HA)")
    p.add_argument("name", help="a short name for the source, e.g. frigate")
    p.add_argument("--path", required=True, type=Path, help="the folder holding the recordings")
    p.add_argument("--time-zone", default="UTC", help="zone of times in file names (IANA name)")
    p.add_argument("--clock-offset", type=float, default=0.0,
                   help="seconds the recorder's clock runs ahead of true time (negative: behind)")
    p.add_argument("--layout", choices=["subfolder", "file_name"], default="subfolder",
                   help="camera = first sub-folder (default) or the camera part of file names")
    p.add_argument("--frame-rate", metavar="RATE",
                   help="frames a second of the cameras' raw streams (.h264, .hevc, .mjpeg), "
                        "which carry no timestamps, e.g. 10 or 30000/1001: needed where a stream "
                        "states none, and it wins over one it states")
    p.add_argument("--hard-link", action="store_true", help="hard-link instead of copying")
    p.set_defaults(handler=cmd_add_folder)

    p = add.add_parser("ring", help="a Ring account (needs a Ring Protect plan)")
    p.add_argument("name")
    p.add_argument("--email", required=True)
    p.add_argument("--otp", help="the verification code Ring sent (asked for on a terminal)")
    p.set_defaults(handler=cmd_add_ring)

    p = add.add_parser("nest", help="Google Nest through a Device Access project")
    p.add_argument("name")
    p.add_argument("--project-id", required=True, help="Device Access project id")
    p.add_argument("--client-id", required=True, help="OAuth client id of that project")
    p.add_argument("--code", help="the one-time code from the authorization page")
    p.add_argument("--retention-days", type=int, default=30,
                   help="how long captured Nest events are kept (default 30)")
    p.add_argument("--subscription",
                   help="Pub/Sub subscription receiving the project's events "
                        "(projects/<cloud-project>/subscriptions/<name>)")
    p.set_defaults(handler=cmd_add_nest)

    p = commands.add_parser(
        "set", help="change a source's settings (keeps its sign-in and captured media)",
        description="Change settings of a folder or Nest source; a running gateway uses them "
                    "from its next request (a Nest source's capture within 30 s).")
    p.add_argument("name")
    folder = p.add_argument_group("folder sources")
    folder.add_argument("--path", type=Path, help="the folder holding the recordings")
    folder.add_argument("--time-zone", help="zone of times in file names (IANA name)")
    folder.add_argument("--clock-offset", type=float,
                        help="seconds the recorder's clock runs ahead of true time")
    folder.add_argument("--layout", choices=["subfolder", "file_name"])
    rate = folder.add_mutually_exclusive_group()
    rate.add_argument("--frame-rate", metavar="RATE", help="frames a second of raw streams")
    rate.add_argument("--no-frame-rate", action="store_true",
                      help="forget the frame rate given (raw streams that state none are refused)")
    link = folder.add_mutually_exclusive_group()
    link.add_argument("--hard-link", action="store_true", default=None,
                      help="hard-link instead of copying")
    link.add_argument("--copy", dest="hard_link", action="store_false", help="copy (default)")
    nest = p.add_argument_group("Nest sources")
    nest.add_argument("--retention-days", type=int, help="how long captured events are kept")
    subscription = nest.add_mutually_exclusive_group()
    subscription.add_argument("--subscription", help="Pub/Sub subscription receiving the events")
    subscription.add_argument("--no-subscription", action="store_true",
                              help="stop capturing events (what was captured is kept)")
    p.set_defaults(handler=cmd_set)

    p = commands.add_parser("remove", help="forget a source and its saved sign-in")
    p.add_argument("name")
    p.set_defaults(handler=cmd_remove)
    commands.add_parser("list", help="sources and their cameras").set_defaults(handler=cmd_list)

    p = subparsers.add_parser("fetch", help="copy a camera's original recordings for a window")
    p.add_argument("--camera", required=True, help="SOURCE:DEVICE_ID (see 'source list')")
    p.add_argument("--start", required=True, help="RFC 3339 time with offset")
    p.add_argument("--end", required=True, help="RFC 3339 time with offset")
    p.add_argument("--out", required=True, type=Path, help="folder to write the recordings to")
    p.set_defaults(handler=cmd_fetch)


def _registry(data: Path) -> SourceRegistry:
    # The Ring, Nest and HTTP libraries load only in the commands that use them: every other
    # `safesmart-gateway` command (`redact` above all) starts a second sooner without them.
    from .registry import SourceRegistry

    return SourceRegistry(data)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def cmd_add_folder(args: argparse.Namespace) -> int:
    """Add a folder source and show the cameras found in it."""
    registry = _registry(args.data)
    try:
        registry.add("folder", args.name, root=str(args.path), time_zone=args.time_zone,
                     clock_offset_s=args.clock_offset, layout=args.layout,
                     frame_rate=args.frame_rate, hard_link=args.hard_link)
    except SourceError as exc:
        return _fail(str(exc))
    print(f"Added folder source '{args.name}'.")
    return _print_sources(registry, only=args.name)


def cmd_add_ring(args: argparse.Namespace) -> int:
    """Sign in to Ring (2FA code asked for on a terminal, else --otp) and add the source."""
    import aiohttp

    from .ring import TwoFactorRequiredError, ring_sign_in

    registry = _registry(args.data)
    try:
        token_path = _new_secret(registry, args.name)
        password = _secret_input("Ring password: ")

        async def sign_in() -> None:
            async with aiohttp.ClientSession() as session:
                try:
                    await ring_sign_in(token_path, args.email, password, args.otp, session=session)
                except TwoFactorRequiredError as exc:
                    if args.otp or not sys.stdin.isatty():
                        raise SourceError(f"{exc} Run the command again with --otp CODE.") from exc
                    code = (await asyncio.to_thread(input, "Verification code from Ring: ")).strip()
                    await ring_sign_in(token_path, args.email, password, code, session=session)

        asyncio.run(sign_in())
        registry.add("ring", args.name)
    except SourceError as exc:
        return _fail(str(exc))
    print(f"Signed in to Ring and added source '{args.name}'.")
    return _print_sources(registry, only=args.name)


def cmd_add_nest(args: argparse.Namespace) -> int:
    """Walk through Google's consent page, exchange the code and add the source."""
    import aiohttp

    from .nest_auth import NestProject, authorization_url, nest_sign_in

    registry = _registry(args.data)
    project = NestProject(args.project_id, args.client_id)
    try:
        token_path = _new_secret(registry, args.name)
        secret = _secret_input("OAuth client secret: ")
        code = args.code
        if not code:
            print("Open this page, allow access to your cameras, and copy the code Google shows "
                  f"(the 'code=' part of the address):\n  {authorization_url(project)}")
            if not sys.stdin.isatty():
                raise SourceError("Run the command again with --code CODE.")
            code = input("Code: ").strip()

        async def sign_in() -> None:
            async with aiohttp.ClientSession() as session:
                await nest_sign_in(token_path, project, secret, code, session)

        asyncio.run(sign_in())
        options = {"project_id": args.project_id, "client_id": args.client_id,
                   "retention_days": args.retention_days}
        if args.subscription:
            options["subscription"] = args.subscription
        registry.add("nest", args.name, **options)
    except SourceError as exc:
        return _fail(str(exc))
    print(f"Signed in to Google Nest and added source '{args.name}'. Nest keeps no history: "
          "the gateway captures event clips and images from now on, while it runs.")
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    """Change a source's settings, then show its cameras as they now are."""
    given: dict[str, Any] = {
        "root": None if args.path is None else str(args.path), "time_zone": args.time_zone,
        "clock_offset_s": args.clock_offset, "layout": args.layout,
        "frame_rate": args.frame_rate, "hard_link": args.hard_link,
        "retention_days": args.retention_days, "subscription": args.subscription,
    }
    changes = {key: value for key, value in given.items() if value is not None}
    changes |= {"frame_rate": None} if args.no_frame_rate else {}
    changes |= {"subscription": None} if args.no_subscription else {}
    registry = _registry(args.data)
    try:
        registry.change(args.name, **changes)
    except SourceError as exc:
        return _fail(str(exc))
    print(f"Changed source '{args.name}'; a running gateway uses it from its next request.")
    return _print_sources(registry, only=args.name)


def cmd_remove(args: argparse.Namespace) -> int:
    """Forget a source."""
    try:
        _registry(args.data).remove(args.name)
    except SourceError as exc:
        return _fail(str(exc))
    print(f"Removed source '{args.name}' and its saved sign-in.")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Every source with its cameras (asks the clouds)."""
    return _print_sources(_registry(args.data))


def cmd_fetch(args: argparse.Namespace) -> int:
    """Copy the original recordings overlapping a window into a folder."""
    source_name, _, device_id = args.camera.partition(":")
    if not source_name or not device_id:
        return _fail("--camera must be SOURCE:DEVICE_ID, e.g. frigate:front_door")
    try:
        window = TimeWindow(parse_time(args.start, "--start"), parse_time(args.end, "--end"))
    except (ProtocolError, ValueError) as exc:
        return _fail(f"{exc} (example: 2026-11-21T09:30:00Z)")
    from tqdm import tqdm

    registry = _registry(args.data)

    async def run() -> int:
        try:
            source = registry.get(source_name)
            recordings = await source.recordings(device_id, window)
            if not recordings:
                print("No recordings overlap this window.")
                return 0
            for recording in tqdm(recordings, unit="clip", disable=not sys.stderr.isatty()):
                path = await source.fetch(recording, args.out)
                print(f"{format_time(recording.start)}  {format_time(recording.end)}  {path}")
            return 0
        finally:
            await registry.close()

    try:
        return asyncio.run(run())
    except SourceError as exc:
        return _fail(str(exc))


def _print_sources(registry: SourceRegistry, only: str | None = None) -> int:
    async def describe() -> list[str]:
        try:
            lines = []
            for info in await registry.describe():
                if only is not None and info.name != only:
                    continue
                lines.append(f"{info.name} ({info.kind})")
                if info.error:
                    lines.append(f"  cannot list cameras: {info.error}")
                for camera in info.cameras:
                    span = "no footage yet"
                    if camera.footage_start and camera.footage_end:
                        span = f"{format_time(camera.footage_start)} .. "
                        span += format_time(camera.footage_end)
                    note = f" [{camera.model}]" if camera.model else ""
                    lines.append(f"  {info.name}:{camera.device_id}  {camera.label}  {span}{note}")
            return lines
        finally:
            await registry.close()

    try:
        lines = asyncio.run(describe())
    except SourceError as exc:
        return _fail(str(exc))
    print("\n".join(lines) if lines else "No footage sources yet; add one with 'source add'.")
    return 0


def _new_secret(registry: SourceRegistry, name: str) -> Path:
    if name in {info.name for info in registry.list()}:
        raise SourceError(f"A source named '{name}' exists already; pick another name.")
    return registry.secret_path(name)


def _secret_input(prompt: str) -> str:
    # On a terminal the secret is typed unseen; otherwise it is the first line of stdin,
    # never a command-line argument (those end up in shell history and `ps`).
    value = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not value:
        raise SourceError("No secret was given.")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m gateway.sources.cli`: the same commands without the rest of the gateway."""
    parser = argparse.ArgumentParser(prog="python -m gateway.sources.cli")
    parser.add_argument("--data", type=Path, required=True, help="the gateway data folder")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    handler = args.handler
    return int(handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
