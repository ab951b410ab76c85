"""The route table and docs/openapi/city.yaml name the same methods and paths."""

from __future__ import annotations

from pathlib import Path

import yaml

from city.app import create_app
from city.config import CityConfig

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "city.yaml"
METHODS = {"get", "put", "post", "delete", "patch", "head"}


def _documented() -> set[tuple[str, str]]:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in METHODS
    }


def _served(config: CityConfig) -> set[tuple[str, str]]:
    app = create_app(config)
    routes = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }
    # aiohttp answers HEAD for every GET route by itself; only explicit HEAD routes count.
    return {
        (method, path)
        for method, path in routes
        if not (method == "HEAD" and ("GET", path) in routes)
    }


def test_route_table_matches_openapi(config: CityConfig) -> None:
    served, documented = _served(config), _documented()
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


def test_every_operation_documents_its_errors() -> None:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            statuses = set(operation["responses"])
            assert any(s.startswith("2") for s in statuses), (method, path)
            if operation.get("security") != []:
                assert "401" in statuses, (method, path)
