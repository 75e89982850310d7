"""OpenAPI links: how the id a create returns feeds the operations that read it.

They document the flows for clients (`/docs` shows them) and let stateful fuzzing
(tests/security/test_schemathesis.py) chain a create with its reads.
"""

from __future__ import annotations

from typing import Any


def operation_ref(method: str, path: str) -> str:
    pointer = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{pointer}/{method.lower()}"


def link(method: str, path: str, description: str, **parameters: str) -> dict[str, Any]:
    """One link to `method path`; parameters are runtime expressions such as
    `$response.body#/id` or `$request.path.company_id`."""
    return {
        "operationRef": operation_ref(method, path),
        "parameters": parameters,
        "description": description,
    }


def created(description: str, status: int = 201, **links: dict[str, Any]) -> dict[int | str, Any]:
    """`responses=` entry for a success response that carries links."""
    return {status: {"description": description, "links": links}}
