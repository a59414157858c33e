"""The Isaac Lab suite runs in .venv-isaac (make test-isaac). Elsewhere it is skipped, unless
ARENA_ISAACLAB_REQUIRED=1 (what make test-isaac sets), where a missing Isaac Lab fails."""

from __future__ import annotations

import os

from tests.optional_suite import optional_suite

pytest_collection_modifyitems, _isaaclab_present = optional_suite(
    os.path.dirname(__file__), "isaaclab", "isaaclab", "ARENA_ISAACLAB_REQUIRED", "make setup-isaac"
)
