"""Text inputs: what every stored or searched string must satisfy.

PostgreSQL `text` cannot hold U+0000 (asyncpg fails the whole statement), while
SQLite stores it: a NUL anywhere in a name, a title or a search would be a 500 on
one lane and data on the other. Every text input that reaches SQL therefore
carries `pattern=NO_NUL` — a 422 in FastAPI's shape, declared in the OpenAPI
schema. (Passwords never reach SQL as text: only their hash does.)
"""

from __future__ import annotations

NO_NUL = r"^[^\x00]*$"


def has_nul(value: str) -> bool:
    return "\x00" in value
