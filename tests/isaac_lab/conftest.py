"""The Isaac Lab suite runs in .venv-isaac (make test-isaac). Elsewhere it is skipped, unless
ARENA_ISAACLAB_REQUIRED=1 (what make test-isaac sets), where a missing Isaac Lab fails."""

from __future__ import annotations

import importlib.util
import os

import pytest

HAVE_ISAACLAB = importlib.util.find_spec("isaaclab") is not None
REQUIRED = os.environ.get("ARENA_ISAACLAB_REQUIRED") == "1"


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.isaaclab)
            if not HAVE_ISAACLAB and not REQUIRED:
                item.add_marker(
                    pytest.mark.skip(reason="Isaac Lab is not installed (make setup-isaac)")
                )


@pytest.fixture(scope="session", autouse=True)
def _isaaclab_present():
    if REQUIRED and not HAVE_ISAACLAB:
        pytest.fail(
            "ARENA_ISAACLAB_REQUIRED=1 but isaaclab is not importable: run make setup-isaac"
        )
