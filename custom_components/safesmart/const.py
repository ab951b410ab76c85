"""Constants of the SafeSmart integration."""

import logging
from datetime import timedelta
from typing import Final

DOMAIN: Final = "safesmart"
LOGGER = logging.getLogger(__package__)

CONF_CITY_FINGERPRINT: Final = "city_fingerprint"
CONF_NOTIFY_SERVICES: Final = "notify_services"
CONF_ALLOWED_USERS: Final = "allowed_users"
CONF_UNANSWERED: Final = "unanswered"
CONF_CAMERA_MAP: Final = "camera_map"

UNANSWERED_DECLINE: Final = "decline"
UNANSWERED_LEAVE_PENDING: Final = "leave_pending"

DEFAULT_URL: Final = "http://127.0.0.1:8765"
# Camera registration status is not pushed by the stream, so it is re-read this often.
SCAN_INTERVAL: Final = timedelta(minutes=5)
RECONNECT_MIN_S: Final = 1.0
RECONNECT_MAX_S: Final = 60.0
UNREACHABLE_ISSUE_AFTER: Final = timedelta(minutes=30)
# An unanswered request is declined this long before the city's respond-by time.
DECLINE_MARGIN: Final = timedelta(minutes=1)

EVENT_FOOTAGE_REQUEST: Final = "safesmart_footage_request"
MOBILE_APP_ACTION_EVENT: Final = "mobile_app_notification_action"
ACTION_PREFIX: Final = "SAFESMART"

ISSUE_UNREACHABLE: Final = "gateway_unreachable"
ISSUE_CITY_KEY_CHANGED: Final = "city_key_changed"
ISSUE_NOT_ENROLLED: Final = "not_enrolled"

PREVIEW_DIR: Final = "www/safesmart"
PREVIEW_URL: Final = "/local/safesmart"
