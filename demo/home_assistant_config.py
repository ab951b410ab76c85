"""The demo's throwaway Home Assistant configuration folder: offline, loopback only."""

from __future__ import annotations

import json
from pathlib import Path

# Only what the web UI and the integration need. Not default_config: it brings cloud,
# discovery (zeroconf, ssdp, dhcp, bluetooth) and update checks. Home Assistant itself
# always sets up analytics (off until opted in) and backup (no automatic backups).
CONFIGURATION = """\
homeassistant:
  name: SafeSmart demo
  latitude: {lat}
  longitude: {lon}
  elevation: 200
  unit_system: metric
  time_zone: America/New_York
  country: US
  currency: USD
http:
  server_host: 127.0.0.1
  server_port: {port}
frontend:
api:
config:
logger:
  default: warning
  logs:
    custom_components.safesmart: info
"""

# Onboarding's core_config step starts config flows for met, radio_browser, google_translate
# and shopping_list (the first three reach the internet). The location is set in the YAML
# above instead, so that step is marked done before the first start (HA's store format v4).
ONBOARDING_STORE = {
    "version": 4,
    "minor_version": 1,
    "key": "onboarding",
    "data": {"done": ["core_config"]},
}


def write_config(config: Path, port: int, home: tuple[float, float], integration: Path) -> None:
    """Create `config` with the YAML, the onboarding store and a link to the integration."""
    (config / ".storage").mkdir(parents=True)
    (config / "configuration.yaml").write_text(
        CONFIGURATION.format(lat=home[0], lon=home[1], port=port)
    )
    (config / ".storage" / "onboarding").write_text(json.dumps(ONBOARDING_STORE))
    (config / "custom_components").mkdir()
    (config / "custom_components" / "safesmart").symlink_to(integration, target_is_directory=True)
