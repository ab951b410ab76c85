"""scripts/demo: the whole SafeSmart flow end to end on loopback, with generated footage.

Starts Home Assistant, the reference city endpoint and a privacy gateway as real processes
on 127.0.0.1, enrolls the gateway, registers two cameras, sets up the Home Assistant
integration, has the city issue a signed footage request, approves it through Home
Assistant's safesmart.approve action, and checks what the city decrypted: trimmed to the
window, no audio, no identifying metadata. The last line starts with `demo: ok`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .footage import write_clip
from .home_assistant import HomeAssistant, hold, start_home_assistant
from .inspection import inspect_clip
from .processes import DemoError, Server, run, wait_until
from .stack import CITY, HOME, CameraSpec, request_body, start_stack

CAMERAS = [
    # The front door masks the neighbour's house on the left of the picture.
    CameraSpec("front-door", "Front door", HOME[0], HOME[1],
               ("0.06,0.11 0.32,0.11 0.32,0.56 0.06,0.56",)),
    CameraSpec("driveway", "Driveway", HOME[0] + 0.0002, HOME[1] + 0.0003),
]  # fmt: skip


def step(message: str) -> None:
    print(f"demo: {message}", flush=True)


def describe(artifact: Path) -> str:
    """What an artifact is, for the closing list."""
    kinds = {
        ".sealed": "sealed package",
        ".jsonl": "audit-log export",
        ".png": "contact sheet",
    }
    if artifact.name.startswith("manifest-"):
        return "signed manifest"
    if artifact.name.startswith("city-opened-"):
        return "redacted, as decrypted"
    return kinds.get(artifact.suffix, artifact.suffix)


def ask_resident(request: dict[str, Any]) -> bool:
    """In a terminal, let the person decide; otherwise approve (CI, scripts)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return True
    d = request["disclosures"]
    print(
        f"\n  {request['agency']['name']} asks for footage, case {request['case_number']}\n"
        f"  {request['incident']['type']}: {request['incident']['description']}\n"
        f"  window {request['window']['start']} → {request['window']['end']}, "
        f"legal basis: {request['legal_basis']}\n"
        f"  kept {d['retention_days']} days; may become a public record: "
        f"{d['may_become_public_record']}; you may be asked to testify: "
        f"{d['may_be_asked_to_testify']}\n"
    )
    answer = input("  Approve and upload the redacted clips? [Y/n] ").strip().lower()
    return answer in ("", "y", "yes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="artifact folder")
    parser.add_argument("--keep-running", action="store_true",
                        help="then keep Home Assistant, gateway, city up until Ctrl-C")  # fmt: skip
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    artifacts = out / "artifacts"
    artifacts.mkdir(parents=True)
    servers: list[Server] = []
    ha: HomeAssistant | None = None
    # SIGTERM stops the demo like Ctrl-C does, so that the processes below are always stopped
    # (not getsignal(SIGINT): a shell's background job has SIGINT ignored).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        ha = start_home_assistant(out, HOME)
        servers.append(ha.server)
        status = run_demo(out, artifacts, servers, ha)
        if status == 0 and args.keep_running:
            hold(ha, servers)
        return status
    except DemoError as err:
        print(f"demo: FAILED: {err}", file=sys.stderr)
        if (ha_log := out / "logs" / "homeassistant.log").exists() and str(ha_log) not in str(err):
            print(f"  Home Assistant's log: {ha_log}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        if ha is not None:  # first, so that its log does not report the gateway going away
            ha.server.stop()
        for server in reversed(servers):
            server.stop()


def run_demo(out: Path, artifacts: Path, servers: list[Server], ha: HomeAssistant) -> int:
    city_data, footage = out / "city", out / "footage"

    clip_start = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
    stamp = clip_start.strftime("%Y%m%d_%H%M%S")
    originals = []
    for camera in CAMERAS:
        path = footage / camera.device / f"{camera.device}_{stamp}.mp4"
        originals.append(write_clip(path, clip_start))
    step(f"generated {len(originals)} clips of 20 s with audio and metadata in {footage}")
    onboarded_s = ha.onboard()
    step(f"Home Assistant on {ha.url}: listening after {ha.listening_s:.1f} s, "
         f"user 'demo' made through onboarding in {onboarded_s:.1f} s")  # fmt: skip

    stack = start_stack(out, footage, CAMERAS, city_name="City of Cleveland (demo)")
    servers.extend(stack.servers)
    step(f"city endpoint listening on {stack.city.url}")
    step(f"gateway enrolled; city key fingerprint {stack.fingerprint} pinned")
    step(f"registered {len(CAMERAS)} cameras (the city knows each to about a block)")
    gateway = stack.start_gateway()
    servers.append(gateway)
    step(f"gateway local API on {gateway.url} (loopback only, bearer token)")
    entities = ha.add_integration(gateway.url, stack.api_token)
    step(f"Home Assistant set up SafeSmart through its config flow: {entities}")

    window = (clip_start + timedelta(seconds=5), clip_start + timedelta(seconds=13))
    incident = (HOME[0] + 0.001, HOME[1])
    issued_at = datetime.now(UTC)  # timed from the admin API call, not from a CLI's start-up
    request_id = stack.issue(request_body("2026-DEMO-0001", incident, *window))
    step(f"city issued signed request {request_id} for an 8 s window")

    seen = ha.wait_for_event(entities.footage_request, request_id, "received", timeout=30)
    step("gateway verified the signature, freshness, replay and caps; Home Assistant fired "
         f"'received' {seen.ms_after(issued_at):.0f} ms after the city was asked; "
         f"{ha.show(entities.pending_requests)}")  # fmt: skip
    request = stack.gateway_api("GET", f"/api/v1/requests/{request_id}")
    wait_until(
        "the redacted preview",
        lambda: (
            stack.gateway_api("GET", f"/api/v1/requests/{request_id}")["preview"]["status"]
            in ("ready", "failed")
        ),
        timeout=240,
    )
    sheet = artifacts / "contact-sheet.png"
    sheet.write_bytes(stack.gateway_api("GET", f"/api/v1/requests/{request_id}/preview"))
    step(f"contact sheet of redacted frames: {sheet}")

    if not ask_resident(request):
        ha.act("decline", request_id)
        step("declined through Home Assistant: nothing leaves the home and the city is not told")
        print("demo: ok (declined by hand; nothing was uploaded)")
        return 0
    ha.act("approve", request_id)
    step("approved through Home Assistant's safesmart.approve action as user 'demo'; "
         "the gateway is redacting, sealing and uploading")  # fmt: skip
    final = wait_until(
        "delivery",
        lambda: (
            r
            if (r := stack.gateway_api("GET", f"/api/v1/requests/{request_id}"))["state"]
            in ("delivered", "failed")
            else None
        ),
        timeout=300,
    )
    if final["state"] != "delivered":
        raise DemoError(f"the request ended {final['state']}: {final.get('error')}")
    step(f"delivered; the city acknowledged {len(final['cameras'])} clips")
    ha.wait_for_event(entities.footage_request, request_id, "delivered", timeout=30)
    step(f"Home Assistant fired 'delivered'; {ha.show(entities.last_delivery)}")

    uploads = json.loads(run([CITY, "uploads", "--data", str(city_data)], "listing uploads"))
    report = []
    for upload in uploads:
        upload_id = upload["upload_id"]
        opened = artifacts / f"city-opened-{upload['registration_id']}.mp4"
        manifest = json.loads(
            run(
                [CITY, "open", upload_id, "--out", str(opened), "--data", str(city_data)],
                f"opening upload {upload_id}",
            )
        )
        (artifacts / f"manifest-{upload['registration_id']}.json").write_text(
            json.dumps(manifest, indent=2)
        )
        facts = inspect_clip(opened, expected_seconds=8.0)
        if (
            hashlib.sha256(opened.read_bytes()).hexdigest()
            != manifest["manifest"]["redacted_sha256"]
        ):
            raise DemoError(f"{opened.name} does not match the manifest's redacted_sha256")
        report.append((opened, facts))
        sealed = city_data / "uploads" / f"{upload_id}.sealed"
        step(
            f"city opened {opened.name} (matches the signed manifest): "
            f"{facts.duration_s:.2f} s, {facts.frames} frames, "
            f"audio streams {facts.audio_streams}, metadata {sorted(facts.metadata) or 'none'}"
        )
        if sealed.exists():
            shutil.copy2(sealed, artifacts / sealed.name)
    if not report:
        raise DemoError("the city holds no uploads")

    export = artifacts / "audit-log.jsonl"
    run([*stack.gateway_cli, "audit", "export", str(export)], "audit export")
    verified = run([*stack.gateway_cli, "audit", "verify"], "audit verify")
    step(f"audit log exported to {export}; {verified.strip().splitlines()[0]}")

    print("\nartifacts:")
    for path in originals:
        print(f"  original footage       {path}")
    for path in sorted(artifacts.iterdir()):
        print(f"  {describe(path):<22} {path}")
    print(f"  logs                   {out / 'logs'}")
    print(f"demo: ok — {len(report)} redacted clips delivered, verified and opened by the city")
    return 0


if __name__ == "__main__":
    sys.exit(main())
