"""The LeRobot suite runs in .venv-lerobot (make test-lerobot). Elsewhere it is skipped, unless
ARENA_LEROBOT_REQUIRED=1 (what make test-lerobot sets), where a missing lerobot fails."""

from __future__ import annotations

import os

from tests.optional_suite import optional_suite

pytest_collection_modifyitems, _lerobot_present = optional_suite(
    os.path.dirname(__file__), "lerobot", "lerobot", "ARENA_LEROBOT_REQUIRED", "make setup-lerobot"
)
