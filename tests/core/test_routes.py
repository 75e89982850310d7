"""Route order: the hot routes are included first, so the order must never change meaning."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.routing import APIRoute

from qoach.routes import OPENAPI_TAGS


def _routes_in_match_order(router: object) -> Iterator[APIRoute]:
    for route in getattr(router, "routes", []):
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes_in_match_order(inner)
        elif isinstance(route, APIRoute):
            yield route


def _example_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_is_the_first_match_for_its_own_path(app: FastAPI):
    routes = list(_routes_in_match_order(app.router))
    assert len(routes) > 50
    for route in routes:
        path = _example_path(route.path)
        for method in route.methods:
            first = next(r for r in routes if r.path_regex.match(path) and method in r.methods)
            assert first is route, f"{method} {path} reaches {first.path}, not {route.path}"


def test_every_tag_is_listed_for_the_docs(app: FastAPI):
    listed = {tag["name"] for tag in OPENAPI_TAGS}
    used = {tag for route in _routes_in_match_order(app.router) for tag in route.tags}
    assert used == listed
