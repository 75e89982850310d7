"""Bounded inputs on every route, generated from the OpenAPI schema and `app.routes`.

Nothing here is hand-picked: each test walks every operation of the schema (or
every route of the app) and builds its requests from the parameters and request
bodies declared there, with the valid bodies of the authorization matrix as the
starting point for body mutations. Every answer must be a 4xx in the error shape
(`{"detail", "code"}`), never a 500.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from qoach.config import Settings
from qoach.params import MAX_ID
from qoach.text import NO_NUL
from tests.factories import Factory
from tests.security.helpers import app_routes
from tests.security.test_authz_matrix import TABLE, Row
from tests.security.world import MEM, OWN, World, build_world

HUGE_INTEGERS = (10**20, 2**31, 2**63, -(2**31) - 1)
JSON = "application/json"
METHODS = ("get", "put", "post", "patch", "delete")


# --- reading the schema ------------------------------------------------------------------


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def variants(spec: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a (possibly `anyOf`) schema, resolved."""
    schema = resolve(spec, schema)
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    resolved = [resolve(spec, option) for option in options]
    return [option for option in resolved if option.get("type") != "null"]


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def leaf_schemas(
    spec: dict[str, Any], schema: dict[str, Any], where: str, seen: frozenset[str] = frozenset()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every scalar schema inside a request body schema, with where it is."""
    ref = schema.get("$ref")
    if ref in seen:
        return
    inner_seen = seen | {ref} if ref else seen
    for option in variants(spec, schema):
        kind = option.get("type")
        if kind == "object" or "properties" in option:
            for name, prop in option.get("properties", {}).items():
                yield from leaf_schemas(spec, prop, f"{where}.{name}", inner_seen)
        elif kind == "array":
            yield from leaf_schemas(spec, option.get("items", {}), f"{where}[]", inner_seen)
        else:
            yield where, option


def request_body_schemas(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for method, path, op in operations(spec):
        for media, content in op.get("requestBody", {}).get("content", {}).items():
            yield f"{method} {path} ({media})", content["schema"]


@pytest.fixture
def spec(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


@pytest.fixture
async def world(factory: Factory) -> World:
    return await build_world(factory)


def url_for(path: str, world: World, **override: Any) -> str:
    ids: dict[str, Any] = {
        "company_id": world.company_a,
        "user_id": world.user_id(MEM),
        "quiz_id": world.quiz_a,
        "attempt_id": world.attempt_a,
        "invitation_id": world.invitation_a,
        "request_id": world.request_a,
        "notification_id": world.notification_a,
    }
    ids.update(override)
    return path.format(**ids)


def assert_error(response: Response, status: int | tuple[int, ...], what: str) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, f"{what}: {response.status_code} {response.text[:300]}"
    body: dict[str, Any] = response.json()
    assert {"detail", "code"} <= set(body), f"{what}: {body}"
    return body


def assert_422_at(response: Response, loc: list[Any], what: str) -> None:
    body = assert_error(response, 422, what)
    assert body["code"] == "validation_error", what
    locs = [error["loc"] for error in body["detail"]]
    assert loc in locs, f"{what}: no error at {loc}: {locs}"


# --- the schema declares a bound for every input --------------------------------------------


def test_every_integer_input_is_bounded(spec: dict[str, Any]) -> None:
    unbounded = []
    for method, path, op in operations(spec):
        for param in op.get("parameters", []):
            for option in variants(spec, param["schema"]):
                if option.get("type") == "integer" and not (
                    option.get("minimum", -1) >= 0 and option.get("maximum", MAX_ID + 1) <= MAX_ID
                ):
                    unbounded.append(f"{method} {path} {param['in']} {param['name']}: {option}")
            if param["name"].endswith("_id") and param["in"] in {"path", "query"}:
                assert any(o.get("minimum") == 1 for o in variants(spec, param["schema"])), param
    for where, body in request_body_schemas(spec):
        for leaf, option in leaf_schemas(spec, body, "body"):
            if option.get("type") == "integer" and not (
                "minimum" in option and option.get("maximum", MAX_ID + 1) <= MAX_ID
            ):
                unbounded.append(f"{where} {leaf}: {option}")
    assert not unbounded, "\n".join(unbounded)


def test_every_text_input_has_a_length_cap(spec: dict[str, Any]) -> None:
    uncapped = []
    for method, path, op in operations(spec):
        for param in op.get("parameters", []):
            for option in variants(spec, param["schema"]):
                if option.get("type") == "string" and not _capped(option):
                    uncapped.append(f"{method} {path} {param['in']} {param['name']}")
    for where, body in request_body_schemas(spec):
        for leaf, option in leaf_schemas(spec, body, "body"):
            if option.get("type") == "string" and not _capped(option):
                uncapped.append(f"{where} {leaf}")
            if option.get("type") is None and option != {}:
                uncapped.append(f"{where} {leaf}: untyped {option}")
    # arrays in bodies are capped too (questions, answers, answer ids)
    for where, body in request_body_schemas(spec):
        _arrays_capped(spec, body, where, uncapped, frozenset())
    assert not uncapped, "\n".join(uncapped)


def _capped(option: dict[str, Any]) -> bool:
    # an uploaded file is bounded by IMPORT_MAX_BYTES (tested below), not a maxLength
    return (
        "maxLength" in option
        or "enum" in option
        or option.get("format") == "binary"
        or "contentMediaType" in option
    )


def _arrays_capped(
    spec: dict[str, Any], schema: dict[str, Any], where: str, out: list[str], seen: frozenset[str]
) -> None:
    ref = schema.get("$ref")
    if ref in seen:
        return
    seen = seen | {ref} if ref else seen
    for option in variants(spec, schema):
        if option.get("type") == "array":
            if "maxItems" not in option:
                out.append(f"{where}: array without maxItems")
            _arrays_capped(spec, option.get("items", {}), where + "[]", out, seen)
        for name, prop in option.get("properties", {}).items():
            _arrays_capped(spec, prop, f"{where}.{name}", out, seen)


# --- the bounds hold on real requests --------------------------------------------------------


async def test_huge_and_negative_integers_in_paths_and_queries_are_422(
    client: AsyncClient, spec: dict[str, Any], world: World
) -> None:
    headers = world.headers(OWN)
    tried = 0
    for method, path, op in operations(spec):
        for param in op.get("parameters", []):
            options = variants(spec, param["schema"])
            if param["in"] not in {"path", "query"} or not any(
                o.get("type") == "integer" for o in options
            ):
                continue
            minimum = min(o.get("minimum", 0) for o in options if o.get("type") == "integer")
            for value in (*HUGE_INTEGERS, minimum - 1, "1e3", "0x10", "1.5"):
                if param["in"] == "path":
                    url, params = url_for(path, world, **{param["name"]: value}), {}
                else:
                    url, params = url_for(path, world), {param["name"]: value}
                response = await client.request(method, url, params=params, headers=headers)
                assert_422_at(response, [param["in"], param["name"]], f"{method} {url} {params}")
                tried += 1
    print(f"\n{tried} requests")  # the figure SECURITY.md quotes
    assert tried >= 400  # ~90 integer parameters × 8 values


async def test_page_size_and_offset_caps(
    client: AsyncClient, spec: dict[str, Any], world: World
) -> None:
    headers = world.headers(OWN)
    lists = [
        (method, path)
        for method, path, op in operations(spec)
        if {p["name"] for p in op.get("parameters", [])} >= {"limit", "offset"}
    ]
    assert len(lists) >= 13
    for method, path in lists:
        url = url_for(path, world)
        for params, loc in (
            ({"limit": 0}, "limit"),
            ({"limit": 101}, "limit"),
            ({"limit": -1}, "limit"),
            ({"offset": -1}, "offset"),
            ({"limit": "ten"}, "limit"),
        ):
            response = await client.request(method, url, params=params, headers=headers)
            assert_422_at(response, ["query", loc], f"{method} {path} {params}")
        for params in ({"limit": 1}, {"limit": 100, "offset": MAX_ID}):
            response = await client.request(method, url, params=params, headers=headers)
            assert response.status_code == 200, f"{method} {path} {params}: {response.text}"
            body = response.json()
            assert (body["limit"], body["offset"]) == (params["limit"], params.get("offset", 0))
            assert len(body["items"]) <= params["limit"]


async def test_overlong_query_strings_and_headers_are_422(
    client: AsyncClient, spec: dict[str, Any], world: World
) -> None:
    headers = world.headers(OWN)
    tried = 0
    for method, path, op in operations(spec):
        for param in op.get("parameters", []):
            if param["in"] not in {"query", "header"}:
                continue
            for option in variants(spec, param["schema"]):
                if option.get("type") != "string" or "maxLength" not in option:
                    continue
                too_long = "a" * (option["maxLength"] + 1)
                url = url_for(path, world)
                if param["in"] == "query":
                    response = await client.request(
                        method, url, params={param["name"]: too_long}, headers=headers
                    )
                else:
                    response = await client.request(
                        method, url, headers={**headers, param["name"]: too_long}, json={}
                    )
                assert_422_at(
                    response, [param["in"], param["name"]], f"{method} {path} {param['name']}"
                )
                tried += 1
    # search ×3, from / to on every analytics, export and attempts list, Idempotency-Key
    print(f"\n{tried} requests")  # the figure SECURITY.md quotes
    assert tried >= 25


def _body_rows() -> list[Row]:
    return [row for row in TABLE if row.send is not None and row.path != "/auth/register"]


def _json_body(row: Row, world: World) -> Any:
    assert row.send is not None
    return row.send(world, OWN).get("json")


def _mutations(body: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every scalar leaf of a valid body: (its path, its value)."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield from _mutations(value, (*where, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from _mutations(value, (*where, index))
    else:
        yield where, body


def _schema_at(spec: dict[str, Any], schema: dict[str, Any], where: tuple[Any, ...]) -> dict:
    for step in where:
        options = variants(spec, schema)
        if isinstance(step, int):
            schema = next(o for o in options if o.get("type") == "array")["items"]
        else:
            schema = next(o for o in options if step in o.get("properties", {}))["properties"][step]
    return variants(spec, schema)[0]


def _replace(body: Any, where: tuple[Any, ...], value: Any) -> Any:
    mutated = copy.deepcopy(body)
    target = mutated
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    return mutated


async def test_overlong_text_and_huge_integers_in_json_bodies_are_422(
    client: AsyncClient, spec: dict[str, Any], world: World
) -> None:
    """Each string leaf of each valid body made one character too long; each int huge."""
    tried = 0
    for row in _body_rows():
        body = _json_body(row, world)
        if body is None:
            continue
        schema = spec["paths"][row.path][row.method.lower()]["requestBody"]["content"][JSON][
            "schema"
        ]
        for where, value in _mutations(body):
            leaf = _schema_at(spec, schema, where)
            if isinstance(value, str):
                assert "maxLength" in leaf, (row.key, where)
                bad_values: tuple[Any, ...] = ("a" * (leaf["maxLength"] + 1),)
            elif isinstance(value, int) and not isinstance(value, bool):
                bad_values = HUGE_INTEGERS
            else:
                continue
            for bad in bad_values:
                response = await client.request(
                    row.method,
                    row.url(world),
                    json=_replace(body, where, bad),
                    headers=world.headers(OWN),
                )
                assert_422_at(response, ["body", *where], f"{row.key} {where}")
                tried += 1
    print(f"\n{tried} requests")  # the figure SECURITY.md quotes
    assert tried >= 40


# never stored or searched as text: a NUL in them is just a wrong secret
SECRETS = {"password", "current_password", "refresh_token", "client_secret"}


def test_every_stored_or_searched_text_refuses_nul(spec: dict[str, Any]) -> None:
    """PostgreSQL cannot hold U+0000: each text input declares the NO_NUL pattern."""
    missing = []
    for method, path, op in operations(spec):
        for param in op.get("parameters", []):
            for option in variants(spec, param["schema"]):
                if option.get("type") == "string" and "enum" not in option:
                    if param["name"] in {"from", "to"}:
                        continue  # parsed as dates: a NUL is a 422 there (tested below)
                    if option.get("pattern") != NO_NUL:
                        missing.append(f"{method} {path} {param['in']} {param['name']}")
    for where, body in request_body_schemas(spec):
        for leaf, option in leaf_schemas(spec, body, "body"):
            name = leaf.rsplit(".", 1)[-1].rstrip("[]")
            if option.get("type") != "string" or "enum" in option or name in SECRETS:
                continue
            if option.get("format") in {"email", "binary"} or "contentMediaType" in option:
                continue  # email-validator refuses control characters; files are parsed
            if name in {"scope", "client_id"}:
                continue  # ignored OAuth2 form fields, never used
            if option.get("pattern") != NO_NUL:
                missing.append(f"{where} {leaf}")
    assert not missing, "\n".join(missing)


async def test_nul_in_any_text_input_is_a_4xx(
    client: AsyncClient, spec: dict[str, Any], world: World
) -> None:
    """Every string leaf of every valid body, and every string query, with a NUL in it."""
    tried = 0
    for row in _body_rows():
        body = _json_body(row, world)
        if body is None:
            continue
        for where, value in _mutations(body):
            if not isinstance(value, str):
                continue
            response = await client.request(
                row.method,
                row.url(world),
                json=_replace(body, where, "nul\x00inside"),
                headers=world.headers(OWN),
            )
            expected = 401 if where[-1] in SECRETS else 422
            assert_error(response, expected, f"{row.key} {where}")
            tried += 1
    for method, path, op in operations(spec):
        for param in op.get("parameters", []):
            if param["in"] != "query":
                continue
            if not any(o.get("type") == "string" for o in variants(spec, param["schema"])):
                continue
            response = await client.request(
                method,
                url_for(path, world),
                params={param["name"]: "a\x00b"},
                headers=world.headers(OWN),
            )
            assert_422_at(response, ["query", param["name"]], f"{method} {path} {param['name']}")
            tried += 1
    register = await client.post(
        "/auth/register", json={"email": "nul\x00@example.com", "password": "password123"}
    )
    assert_error(register, 422, "register")
    print(f"\n{tried} requests")  # the figure SECURITY.md quotes
    assert tried >= 40


async def test_nul_in_an_uploaded_workbook_is_a_row_error(
    client: AsyncClient, world: World
) -> None:
    import io

    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer)
    sheet = workbook.add_worksheet()
    header = ["quiz_title", "question", "answer_1", "answer_2", "correct"]
    rows = [header, ["Bad\x00title", "Q1?", "a", "b", "1"], ["Bad\x00title", "Q2?", "c", "d", "2"]]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    workbook.close()
    response = await client.post(
        f"/companies/{world.company_a}/quizzes/import",
        files={"file": ("nul.xlsx", buffer.getvalue(), "application/octet-stream")},
        headers=world.headers(OWN),
    )
    body = assert_error(response, 422, "import")
    assert body["code"] == "import_invalid"
    assert {(error["row"], error["column"]) for error in body["errors"]} >= {(2, "quiz_title")}


DEEP = 10_000


async def test_deep_malformed_and_mistyped_json_bodies_are_4xx(
    client: AsyncClient, spec: dict[str, Any], world: World
) -> None:
    rows = {row.key: row for row in TABLE}
    tried = 0
    for method, path, op in operations(spec):
        if JSON not in op.get("requestBody", {}).get("content", {}):
            continue
        row = rows[(method, path)]
        url = row.url(world)
        headers = world.headers(OWN)
        valid_body = _json_body(row, world)
        valid = json.dumps(valid_body).encode()
        first_key = next(iter(valid_body)).encode()
        cases: list[tuple[str, bytes, dict[str, str], tuple[int, ...]]] = [
            ("deep arrays", b"[" * DEEP + b"]" * DEEP, {"Content-Type": JSON}, (400, 422)),
            (
                "deep objects",
                b'{"a":' * DEEP + b"1" + b"}" * DEEP,
                {"Content-Type": JSON},
                (400, 422),
            ),
            # deep but parseable: a 422 (the echo of the input is cut at 32 levels)
            (
                "deep field",
                b'{"x":' + b"[" * 500 + b"]" * 500 + b"}",
                {"Content-Type": JSON},
                (422,),
            ),
            ("truncated", valid[: len(valid) // 2], {"Content-Type": JSON}, (422,)),
            ("not json", b"\xff\xfe\x00garbage", {"Content-Type": JSON}, (422,)),
            ("empty", b"", {"Content-Type": JSON}, (422,)),
            ("NaN", b'{"x": NaN}', {"Content-Type": JSON}, (422,)),
            ("infinity", b"1e999999", {"Content-Type": JSON}, (422,)),
            ("infinite leaf", b'{"' + first_key + b'": 1e999}', {"Content-Type": JSON}, (422,)),
            ("a bare string", b'"text"', {"Content-Type": JSON}, (422,)),
            ("a list", b"[]", {"Content-Type": JSON}, (422,)),
            ("duplicate keys", b'{"x": 1, "x": 2}', {"Content-Type": JSON}, (422,)),
            ("text/plain", valid, {"Content-Type": "text/plain"}, (422,)),
            ("no content type", valid, {}, (422,)),
            ("xml", b"<a>1</a>", {"Content-Type": "application/xml"}, (422,)),
        ]
        for name, content, extra, statuses in cases:
            response = await client.request(
                method, url, content=content, headers={**headers, **extra}
            )
            body = assert_error(response, statuses, f"{method} {path}: {name}")
            if response.status_code == 422:
                assert body["code"] == "validation_error", (method, path, name, body)
            tried += 1
    print(f"\n{tried} requests")  # the figure SECURITY.md quotes
    assert tried >= 13 * 15


async def test_every_endpoint_caps_the_request_body(
    client: AsyncClient, app: FastAPI, settings: Settings, world: World, spec: dict[str, Any]
) -> None:
    """Over the cap → 413 before the app reads it: declared (Content-Length) or streamed."""
    import_limit = settings.import_max_bytes + 64 * 1024
    tried = 0
    for method, path in sorted(app_routes(app)):
        if method == "WS":
            continue
        limit = import_limit if path.endswith("/quizzes/import") else settings.max_body_bytes
        url = url_for(path, world)
        response = await client.request(
            method,
            url,
            content=b"x" * (limit + 1),
            headers={**world.headers(OWN), "Content-Type": JSON},
        )
        assert response.status_code == 413, f"{method} {path}: {response.status_code}"
        if method != "HEAD":
            assert response.json()["code"] == "payload_too_large", (method, path)
        tried += 1
    # a streamed body without Content-Length is cut off once it passes the cap, on every
    # route that reads a body
    for method, path, op in operations(spec):
        if "requestBody" not in op:
            continue
        limit = import_limit if path.endswith("/quizzes/import") else settings.max_body_bytes
        media = next(iter(op["requestBody"]["content"]))
        if media.startswith("multipart/"):
            media += "; boundary=cap"
        response = await client.request(
            method,
            url_for(path, world),
            content=_chunks(limit + 1, first=_FILE_PART if "boundary" in media else b""),
            headers={**world.headers(OWN), "Content-Type": media},
        )
        assert response.status_code == 413, f"{method} {path} (streamed): {response.text[:200]}"
        assert response.json()["code"] == "payload_too_large"
        tried += 1
    print(f"\n{tried} requests")  # the figure SECURITY.md quotes
    assert tried >= 69 + 15
    # at the cap exactly the body is read (and refused for what it is, not its size)
    response = await client.post(
        "/companies",
        content=b" " * (settings.max_body_bytes - 2) + b"[]",
        headers={**world.headers(OWN), "Content-Type": JSON},
    )
    assert response.status_code == 422


_FILE_PART = (
    b"--cap\r\n"
    b'Content-Disposition: form-data; name="file"; filename="big.xlsx"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
)


async def _chunks(total: int, size: int = 64 * 1024, first: bytes = b"") -> AsyncIterator[bytes]:
    if first:
        yield first
    sent = len(first)
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk
