"""The city endpoint's aiohttp application: services, middlewares and the route table."""

from __future__ import annotations

import logging
from typing import Final, Protocol

from aiohttp import web

from .auth import AuthMiddleware
from .config import CityConfig
from .enrollment import EnrollmentService
from .keys import CityKeys
from .problems import problem_middleware
from .registry import RegistryService
from .replies import ReplyService
from .requests import FeedNotifier, RequestService
from .store import CityStore
from .transparency import TransparencyService

_LOG = logging.getLogger(__name__)

STORE_KEY: Final = web.AppKey("store", CityStore)
KEYS_KEY: Final = web.AppKey("keys", CityKeys)
NOTIFIER_KEY: Final = web.AppKey("notifier", FeedNotifier)
# Long-polls are answered on shutdown (FeedNotifier.close), so a short grace period suffices.
SHUTDOWN_TIMEOUT_S: Final = 5.0


def create_app(config: CityConfig) -> web.Application:
    """Build the application over the data folder named in `config`."""
    keys = CityKeys.load_or_create(config.keys_dir, config.name)
    store = CityStore(config.db_path)
    notifier = FeedNotifier()
    app = web.Application(
        middlewares=[
            problem_middleware,
            AuthMiddleware(config.admin_token, store.gateway_key).middleware,
        ]
    )
    app[STORE_KEY] = store
    app[KEYS_KEY] = keys
    app[NOTIFIER_KEY] = notifier
    services: list[_Service] = [
        EnrollmentService(store, keys),
        RegistryService(store),
        RequestService(store, keys, notifier),
        ReplyService(store),
        TransparencyService(store),
    ]
    for service in services:
        app.add_routes(service.routes())
    app.add_routes(_upload_routes(config, keys, store))

    async def answer_long_polls(_: web.Application) -> None:
        await notifier.close()

    async def close_store(_: web.Application) -> None:
        store.close()

    app.on_shutdown.append(answer_long_polls)
    app.on_cleanup.append(close_store)
    return app


class _Service(Protocol):
    def routes(self) -> list[web.RouteDef]: ...


def _upload_routes(config: CityConfig, keys: CityKeys, store: CityStore) -> list[web.RouteDef]:
    """The delivery engineer's upload routes (city.uploads), mounted on the same app."""
    from .uploads import UploadReceiver

    receiver = UploadReceiver(config.db_path, config.uploads_dir, keys, store.gateway_key)
    return receiver.routes()
