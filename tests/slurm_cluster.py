"""A real single-node SLURM cluster (with accounting) for the `slurm`-marked tests.

Use it with `from tests.slurm_cluster import slurm_cluster` in a conftest or a test module. It runs
launchers/slurm/start_local_slurm.sh, exports SLURM_CONF for the session, and always runs
stop_local_slurm.sh at the end. It skips when the machine cannot host the cluster (not root,
packages not installable) unless ARENA_SLURM_REQUIRED=1, which turns those skips into failures
so that CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
START_SCRIPT = REPO_ROOT / "launchers" / "slurm" / "start_local_slurm.sh"
STOP_SCRIPT = REPO_ROOT / "launchers" / "slurm" / "stop_local_slurm.sh"
DEFAULT_ROOT = Path("/tmp/arena-slurm")

# Exit codes of start_local_slurm.sh that mean "this machine cannot host it", not "it broke".
EXIT_NOT_ROOT = 3
EXIT_CANNOT_INSTALL = 4

# A cold start includes `apt-get install`; a warm one takes seconds.
START_TIMEOUT_S = 900
STOP_TIMEOUT_S = 300


@dataclass(frozen=True)
class SlurmCluster:
    """A running cluster: its state folder and the environment that reaches it."""

    root: Path
    env: dict[str, str]

    @property
    def slurm_conf(self) -> Path:
        return Path(self.env["SLURM_CONF"])

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    def run(self, *command: str, timeout_s: float = 60) -> str:
        """Run a SLURM client command (sacct, squeue, ...) against this cluster; return stdout."""
        done = subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited with {done.returncode}: {done.stderr.strip()}"
            )
        return done.stdout


def _cannot_host(reason: str) -> None:
    """Skip, or fail where the caller said the cluster is required (CI)."""
    if os.environ.get("ARENA_SLURM_REQUIRED") == "1":
        pytest.fail(f"SLURM cluster required (ARENA_SLURM_REQUIRED=1) but {reason}")
    pytest.skip(reason)


def _output_tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _stop(root: Path) -> None:
    # Teardown must not raise over a test's own failure; a failed stop is reported on stderr.
    try:
        done = subprocess.run(
            [str(STOP_SCRIPT), str(root)],
            capture_output=True,
            text=True,
            timeout=STOP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"stop_local_slurm.sh did not finish in {STOP_TIMEOUT_S}s", file=sys.stderr)
        return
    if done.returncode != 0:
        print(
            f"stop_local_slurm.sh exited with {done.returncode}:\n{_output_tail(done.stderr)}",
            file=sys.stderr,
        )


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    if sys.platform != "linux":
        _cannot_host(f"a local SLURM cluster needs Linux, not {sys.platform}")
    if os.geteuid() != 0:
        _cannot_host("start_local_slurm.sh must run as root (it installs packages, runs daemons)")
    if shutil.which("sbatch") is None and shutil.which("apt-get") is None:
        _cannot_host("SLURM is not installed and there is no apt-get to install it")

    root = Path(os.environ.get("ARENA_SLURM_ROOT", DEFAULT_ROOT))
    try:
        try:
            started = subprocess.run(
                [str(START_SCRIPT), str(root)],
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"start_local_slurm.sh did not finish in {START_TIMEOUT_S}s; logs in {root}"
            )
        if started.returncode in (EXIT_NOT_ROOT, EXIT_CANNOT_INSTALL):
            _cannot_host(f"start_local_slurm.sh: {_output_tail(started.stderr, 5)}")
        if started.returncode != 0:
            pytest.fail(
                f"start_local_slurm.sh exited with {started.returncode}; logs in {root / 'log'}\n"
                f"{_output_tail(started.stderr)}",
                pytrace=False,
            )
        export_line = (started.stdout.strip().splitlines() or [""])[-1]
        prefix = "export SLURM_CONF="
        if not export_line.startswith(prefix):
            pytest.fail(f"start_local_slurm.sh's last line is not '{prefix}...': {export_line!r}")
        slurm_conf = export_line.removeprefix(prefix)

        # submitit and the SLURM clients read SLURM_CONF from os.environ, so set it there for the
        # whole session, and put back whatever was there before.
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", slurm_conf)
            yield SlurmCluster(root=root, env=dict(os.environ))
    finally:
        _stop(root)
