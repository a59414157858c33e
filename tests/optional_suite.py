"""A test suite that needs a package only its own venv has (Isaac Lab, lerobot).

Elsewhere its tests are skipped, unless the suite's ``ARENA_<NAME>_REQUIRED=1`` is set (what its
make target sets), where a missing package fails the session instead of skipping silently.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

import pytest


def optional_suite(
    folder: str, package: str, marker: str, required_var: str, setup: str
) -> tuple[Callable, Callable]:
    """The conftest hook and session fixture that mark, skip or fail the tests in ``folder``."""
    present = importlib.util.find_spec(package) is not None
    required = os.environ.get(required_var) == "1"

    def pytest_collection_modifyitems(config, items):
        for item in items:
            if str(item.fspath).startswith(folder):
                item.add_marker(getattr(pytest.mark, marker))
                if not present and not required:
                    item.add_marker(
                        pytest.mark.skip(reason=f"{package} is not installed ({setup})")
                    )

    @pytest.fixture(scope="session", autouse=True)
    def _package_present():
        if required and not present:
            pytest.fail(f"{required_var}=1 but {package} is not importable: run {setup}")

    return pytest_collection_modifyitems, _package_present
