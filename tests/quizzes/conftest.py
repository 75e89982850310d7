from __future__ import annotations

import pytest

from tests.factories import Factory
from tests.quizzes.helpers import World, make_world


@pytest.fixture
async def world(factory: Factory) -> World:
    return await make_world(factory)
