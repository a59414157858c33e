"""The LeRobot suite runs in .venv-lerobot (make test-lerobot). Elsewhere it is skipped, unless
ARENA_LEROBOT_REQUIRED=1 (what make test-lerobot sets), where a missing lerobot fails."""

from __future__ import annotations

import importlib.util
import os

import pytest

HAVE_LEROBOT = importlib.util.find_spec("lerobot") is not None
REQUIRED = os.environ.get("ARENA_LEROBOT_REQUIRED") == "1"


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.lerobot)
            if not HAVE_LEROBOT and not REQUIRED:
                item.add_marker(
                    pytest.mark.skip(reason="lerobot is not installed (make setup-lerobot)")
                )


@pytest.fixture(scope="session", autouse=True)
def _lerobot_present():
    if REQUIRED and not HAVE_LEROBOT:
        pytest.fail(
            "ARENA_LEROBOT_REQUIRED=1 but lerobot is not importable: run make setup-lerobot"
        )
