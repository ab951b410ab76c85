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
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from protocol.timeutil import format_time

from .footage import write_clip
from .home_assistant import HomeAssistant, hold, start_home_assistant, wait_until
from .inspection import inspect_clip
from .processes import DemoError, Server, free_port, run, start_server

BIN = Path(sys.executable).parent
CITY, GATEWAY = str(BIN / "safesmart-city"), str(BIN / "safesmart-gateway")
HOME = (41.49932, -81.69436)
CAMERAS = [
    # (device id, name, offset from HOME in degrees, privacy masks)
    ("front-door", "Front door", (0.0, 0.0), ["0.06,0.11 0.32,0.11 0.32,0.56 0.06,0.56"]),
    ("driveway", "Driveway", (0.0002, 0.0003), []),
]


def step(message: str) -> None:
    print(f"demo: {message}", flush=True)


def api(server: Server, token: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback URL we built
        server.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        raw = response.read()
        if response.headers.get_content_type() == "application/json":
            return json.loads(raw)
        return raw


def field(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].split("(")[0].strip()
    raise DemoError(f"no {name!r} in:\n{output}")


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
    city_data, gateway_data, footage = out / "city", out / "gateway", out / "footage"
    gw = [GATEWAY, "--data", str(gateway_data)]

    clip_start = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
    stamp = clip_start.strftime("%Y%m%d_%H%M%S")
    originals = []
    for device, *_ in CAMERAS:
        originals.append(write_clip(footage / device / f"{device}_{stamp}.mp4", clip_start))
    step(f"generated {len(originals)} clips of 20 s with audio and metadata in {footage}")
    onboarded_s = ha.onboard()
    step(f"Home Assistant on {ha.url}: listening after {ha.listening_s:.1f} s, "
         f"user 'demo' made through onboarding in {onboarded_s:.1f} s")  # fmt: skip

    run([CITY, "init", "--data", str(city_data), "--name", "City of Cleveland (demo)"], "city init")
    city_port = free_port()
    city = start_server(
        "city endpoint",
        [CITY, "serve", "--data", str(city_data), "--listen", f"127.0.0.1:{city_port}"],
        city_port,
        out / "logs" / "city.log",
    )
    servers.append(city)
    step(f"city endpoint listening on {city.url}")
    issued = run([CITY, "enroll-code", "--data", str(city_data)], "enrollment code")
    code, fingerprint = field(issued, "code"), field(issued, "fingerprint")

    run([*gw, "init", "--name", "Demo home"], "gateway init")
    enrolled = run(
        [*gw, "enroll", "--city", city.url, "--code", code, "--expect-fingerprint", fingerprint],
        "enrollment",
    )
    step(f"gateway enrolled; city key fingerprint {fingerprint} pinned")
    run([*gw, "source", "add", "folder", "demo-footage", "--path", str(footage)], "source add")
    for device, name, (dlat, dlon), masks in CAMERAS:
        mask_args = [arg for mask in masks for arg in ("--mask", mask)]
        run(
            [*gw, "camera", "add", "--name", name, "--lat", str(HOME[0] + dlat),
             "--lon", str(HOME[1] + dlon), "--source", "demo-footage", "--device", device,
             *mask_args],
            f"camera add {name}",
        )  # fmt: skip
    step(f"registered {len(CAMERAS)} cameras (the city knows each to about a block)")
    del enrolled

    gw_port = free_port()
    gateway = start_server(
        "gateway",
        [*gw, "serve", "--listen", f"127.0.0.1:{gw_port}"],
        gw_port,
        out / "logs" / "gateway.log",
    )
    servers.append(gateway)
    token = (gateway_data / "api-token").read_text().strip()
    step(f"gateway local API on {gateway.url} (loopback only, bearer token)")
    entities = ha.add_integration(gateway.url, token)
    step(f"Home Assistant set up SafeSmart through its config flow: {entities}")

    window_start, window_end = clip_start + timedelta(seconds=5), clip_start + timedelta(seconds=13)
    body = {
        "case_number": "2026-DEMO-0001",
        "agency": {"name": "Cleveland Division of Police (demo)", "id": "cle-pd"},
        "officer": {"name": "Det. Demo", "badge": "0001", "email": "detective@city.example",
                    "phone": "+1 216 555 0100"},
        "incident": {"type": "burglary", "description": "Package taken from a porch",
                     "point": {"lat": HOME[0] + 0.001, "lon": HOME[1]}, "radius_m": 300},
        "window": {"start": format_time(window_start), "end": format_time(window_end)},
        "respond_by": format_time(datetime.now(UTC) + timedelta(days=3)),
        "legal_basis": "voluntary",
        "disclosures": {"retention_days": 90, "may_become_public_record": True,
                        "may_be_asked_to_testify": False,
                        "name_may_appear_in_court_documents": False,
                        "notes": "Footage is kept 90 days unless it becomes evidence."},
    }  # fmt: skip
    # What `safesmart-city request --json` posts; timed from here, not from a CLI's start-up.
    issued_at = datetime.now(UTC)
    answer = api(city, (city_data / "admin-token").read_text().strip(), "POST",
                 "/v1/admin/requests", body)  # fmt: skip
    request_id = answer["requests"][0]["request_id"]
    step(f"city issued signed request {request_id} for an 8 s window")

    seen = ha.wait_for_event(entities.footage_request, request_id, "received", timeout=30)
    step("gateway verified the signature, freshness, replay and caps; Home Assistant fired "
         f"'received' {seen.ms_after(issued_at):.0f} ms after the city was asked; "
         f"{ha.show(entities.pending_requests)}")  # fmt: skip
    request = api(gateway, token, "GET", f"/api/v1/requests/{request_id}")
    wait_until(
        "the redacted preview",
        lambda: (
            api(gateway, token, "GET", f"/api/v1/requests/{request_id}")["preview"]["status"]
            in ("ready", "failed")
        ),
        timeout=240,
    )
    sheet = artifacts / "contact-sheet.png"
    sheet.write_bytes(api(gateway, token, "GET", f"/api/v1/requests/{request_id}/preview"))
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
            if (r := api(gateway, token, "GET", f"/api/v1/requests/{request_id}"))["state"]
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
    run([*gw, "audit", "export", str(export)], "audit export")
    verified = run([*gw, "audit", "verify"], "audit verify")
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
