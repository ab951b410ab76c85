"""`safesmart-gateway serve`: run the gateway (feed, local API, redaction, uploads)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from .config import DataLayout, GatewayConfig, ListenAddress, TimeLimit, Timing
from .redaction.cli import add_redaction_options, models_from


def cmd_serve(args: argparse.Namespace) -> int:
    from .service import GatewayService

    config = GatewayConfig(
        data=DataLayout(Path(args.data)), listen=ListenAddress.parse(args.listen),
        allow_remote=args.allow_remote, advertise=not args.no_advertise,
        redaction_profile=args.profile, redaction_models=models_from(args),
        redaction_time_limit=TimeLimit(per_clip_second_s=args.redaction_time_limit),
        timing=Timing(feed_wait_s=args.feed_wait),
    )
    asyncio.run(GatewayService(config).run())
    return 0


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve`."""
    p = subparsers.add_parser("serve", help="run the gateway")
    p.add_argument("--listen", default="127.0.0.1:8765", help="local API address")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback listen address (advertised over zeroconf)")
    p.add_argument("--no-advertise", action="store_true", help="never advertise over zeroconf")
    add_redaction_options(p)
    p.add_argument("--redaction-time-limit", type=_positive, default=10.0, metavar="S",
                   help="stop a redaction after 120 s plus S s per second of clip in all "
                        "(default 10; raise it on a very slow machine); one making no progress "
                        "for 120 s is stopped as hung sooner")
    p.add_argument("--feed-wait", type=int, default=25, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_serve)
