"""What a Nest device is, in the words the resident reads: camera or not, what it can hand
over, and its name."""

from __future__ import annotations

from google_nest_sdm.device import Device

from .nest_cache import MediaKind, short_device_id


def is_camera(device: Device) -> bool:
    traits = (device.camera_live_stream, device.camera_event_image, device.camera_clip_preview)
    return any(trait is not None for trait in traits)


def media_kind(device: Device) -> MediaKind | None:
    if device.camera_clip_preview is not None:
        return MediaKind.CLIP_PREVIEW
    if device.camera_event_image is not None:
        return MediaKind.EVENT_IMAGE
    return None


def model_note(device: Device) -> str:
    kind = media_kind(device)
    if kind is MediaKind.CLIP_PREVIEW:
        return "clip previews of events (no continuous history)"
    if kind is MediaKind.EVENT_IMAGE:
        return "event images only (no video, no continuous history)"
    return "live view only (nothing can be captured)"


def label(device: Device) -> str:
    if device.info is not None and device.info.custom_name:
        return device.info.custom_name
    rooms = [name for name in device.parent_relations.values() if name]
    return rooms[0] if rooms else short_device_id(device.name)
