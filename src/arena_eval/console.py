"""What a person sees: the progress bar and the metrics table (rich, on the terminal)."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)
if not console.is_terminal:  # logs and CI: rich's 80-column default would wrap the tables
    console.width = max(console.width, 140)


class ProgressDisplay:
    """A progress bar on a terminal; a line every ~10 % (or 30 s) when output is a log file."""

    def __init__(self, title: str, total: int, unit: str, enabled: bool = True) -> None:
        self.total, self.unit, self.enabled = total, unit, enabled
        self.successes = 0
        self._tty = console.is_terminal
        self._bar: Progress | None = None
        self._next_pct, self._last_log = 10, time.monotonic()
        if enabled and self._tty:
            self._bar = Progress(
                TextColumn(f"[bold]{title}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(unit),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            self._task = self._bar.add_task(title, total=total, detail="")
        elif enabled:
            print(f"{title}: 0/{total} {unit}", file=sys.stderr, flush=True)

    def __enter__(self) -> ProgressDisplay:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, done: int, episodes: int, successes: int) -> None:
        if not self.enabled:
            return
        detail = f"episodes {episodes}, success {successes}/{episodes}" if episodes else ""
        if self._bar is not None:
            self._bar.update(self._task, completed=min(done, self.total), detail=detail)
            return
        pct = 100 * done // max(self.total, 1)
        if pct >= self._next_pct or time.monotonic() - self._last_log > 30:
            self._next_pct = (pct // 10 + 1) * 10
            self._last_log = time.monotonic()
            print(f"  {done}/{self.total} {self.unit} {detail}", file=sys.stderr, flush=True)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def metrics_table(title: str, metrics: dict[str, Any], timing: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    n = metrics.get("num_episodes", 0)
    if n:
        low, high = metrics["success_ci95"]
        table.add_row(
            "success_rate", f"{_pct(metrics['success_rate'])}  [{_pct(low)}, {_pct(high)}] 95 % CI"
        )
        for key in ("object_moved_rate", "door_moved_rate", "failure_rate", "timeout_rate"):
            if key in metrics:
                table.add_row(key, _pct(metrics[key]))
        for name, rate in metrics.get("subtask_success_rate", {}).items():
            table.add_row(f"subtask {name}", _pct(rate))
        table.add_row(
            "episode_length (mean / p90)",
            f"{metrics['episode_length_mean']:.1f} / {metrics['episode_length_p90']:.0f} steps",
        )
    table.add_row("num_episodes", str(n))
    if timing:
        table.add_row("env-steps/s", f"{timing['env_steps_per_s']:,.0f}")
        table.add_row(
            "wall time", f"{timing['rollout_s']:.2f} s (+ {timing['setup_s']:.2f} s setup)"
        )
    for obj, sub in metrics.get("per_object", {}).items():
        if sub.get("num_episodes"):
            table.add_row(f"  {obj}", f"{_pct(sub['success_rate'])} of {sub['num_episodes']}")
    return table


def show(renderable: Any) -> None:
    console.print(renderable)
