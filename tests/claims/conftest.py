"""The record is written once per session; each test works on its own copy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.claims import kit


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("claims-record") / "template.db"
    kit.write_record(db)
    return db


@pytest.fixture
def w(template: Path, tmp_path: Path) -> Iterator[kit.World]:
    world = kit.world(template, tmp_path)
    yield world
    world.close()
