"""report.html: the analysis behind it, and the page itself opened in a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from arena_eval.analysis import analyse, bins, logistic_fit
from arena_eval.envs.base import EpisodeRecord
from arena_eval.metrics import wilson_interval
from arena_eval.variations import CATEGORICAL, NUMERIC, Column

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


# -- analysis -------------------------------------------------------------------------------


def test_logistic_fit_recovers_a_known_slope() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 4000)
    p = 1 / (1 + np.exp(-(3.0 - 0.6 * x)))
    y = (rng.uniform(size=x.size) < p).astype(int)
    fit = logistic_fit(x, y)
    assert fit["fitted"]
    assert fit["slope"] == pytest.approx(-0.6, abs=4 * fit["slope_se"])
    assert fit["intercept"] == pytest.approx(3.0, abs=0.4)
    assert fit["value_at_50pct"] == pytest.approx(5.0, abs=0.4)
    assert fit["slope_p_value"] < 1e-6
    curve = fit["curve"]
    assert all(
        lo <= m <= hi
        for lo, m, hi in zip(
            curve["ci95_low"], curve["success_rate"], curve["ci95_high"], strict=True
        )
    )


def test_fits_that_cannot_be_made_say_why() -> None:
    x = np.arange(10.0)
    assert "every episode succeeded" in logistic_fit(x, np.ones(10, int))["reason"]
    assert (
        "never changed"
        in logistic_fit(np.ones(10), np.r_[np.ones(5), np.zeros(5)].astype(int))["reason"]
    )
    assert "only 1 failure: too few" in logistic_fit(x, (x > 0).astype(int))["reason"]
    sep = logistic_fit(x, (x < 4.5).astype(int))
    assert sep["fitted"] is False and sep["success_side"] == "below"
    assert sep["separation_threshold"] == pytest.approx(4.5)


def test_bins_carry_wilson_intervals_and_cover_every_episode() -> None:
    x = np.linspace(0, 1, 50)
    y = (x > 0.3).astype(int)
    out = bins(x, y)
    assert sum(b["n"] for b in out) == 50
    for b in out:
        assert b["ci95"] == list(wilson_interval(b["successes"], b["n"]))
    counts = bins(np.array([0, 1, 1, 2, 2, 2.0]), np.array([1, 0, 1, 1, 1, 1]))
    assert [b["n"] for b in counts] == [1, 2, 3]  # one bin per integer value


def test_categorical_and_set_valued_columns() -> None:
    def rec(i: int, ok: bool, **v) -> EpisodeRecord:
        return EpisodeRecord(i, 0, i, "box", ok, 10, "success" if ok else "timeout", variations=v)

    records = [
        rec(0, True, **{"c.color": "red", "d.objects": "a+b"}),
        rec(1, False, **{"c.color": "red", "d.objects": "a"}),
        rec(2, True, **{"c.color": "blue", "d.objects": "none"}),
    ]
    out = analyse(
        records,
        [Column("c", "color", CATEGORICAL), Column("d", "objects", CATEGORICAL, multi=True)],
    )
    assert out["c.color"]["categories"]["red"]["n"] == 2
    assert out["c.color"]["categories"]["red"]["successes"] == 1
    assert out["d.objects"]["categories"]["a"]["n"] == 2
    assert out["d.objects"]["categories"]["b"]["success_rate"] == 1.0
    assert analyse(records, [Column("m", "scale", NUMERIC)]) == {}  # not drawn: not analysed


# -- the page -------------------------------------------------------------------------------


class Keys(HTMLParser):
    """Text of every element with a data-key, as the browser's DOM holds it."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.images = self.videos = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.images += tag == "img" and str(a.get("src", "")).startswith("data:image/png")
        self.videos += tag == "video"
        if tag in ("img", "br", "meta", "source"):
            return
        self._open.append((tag, a.get("data-key")))
        if a.get("data-key"):
            self.values[a["data-key"]] = ""

    def handle_endtag(self, tag):
        while self._open:
            t, _ = self._open.pop()
            if t == tag:
                break

    def handle_data(self, data):
        for _, key in self._open:
            if key:
                self.values[key] += data


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("ARENA_BROWSER_REQUIRED") == "1":
        pytest.fail("chromium is required (make setup-browser) but was not found")
    pytest.skip("no chromium here: `make setup-browser` installs Debian's")


def browse(page: Path, tmp: Path, screenshot: Path) -> Keys:
    """Load the page in headless Chromium: its DOM after load, and a full screenshot."""
    exe = chromium()
    common = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}"]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    shot = subprocess.run(
        [*common, "--window-size=1280,2400", f"--screenshot={screenshot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.returncode == 0 and screenshot.stat().st_size > 20_000, shot.stderr[-2000:]
    keys = Keys()
    keys.feed(dom.stdout)
    keep = os.environ.get("ARENA_REPORT_SCREENSHOTS")  # a folder to look at them afterwards
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(keep) / screenshot.name)
    return keys


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "arena-eval"
    proc = subprocess.run(
        [exe, *args, "progress=false"], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.integration
def test_job_report_in_a_browser_shows_the_json_numbers(tmp_path: Path) -> None:
    out = tmp_path / "job"
    run(
        "env=lift_object",
        "policy=scripted",
        "num_envs=4",
        "length.n=8",
        "variations=[object_pose,object_color,distractors]",
        "variations.object_mass.scale=[1,40]",
        "record_video=true",
        "cameras.names=[front]",
        "cameras.width=96",
        "cameras.height=64",
        f"hydra.run.dir={out}",
        cwd=tmp_path,
    )
    results = json.loads((out / "results.json").read_text())
    keys = browse(out / "report.html", tmp_path, tmp_path / "job_report.png")
    m = results["metrics"]
    assert keys.values["metrics.success_rate"].strip() == pct(m["success_rate"])
    low, high = m["success_ci95"]
    assert keys.values["metrics.success_ci95"].strip() == f"95 % CI [{pct(low)}, {pct(high)}]"
    assert keys.values["metrics.num_episodes"].strip() == str(m["num_episodes"]) == "8"
    analysis = results["variations"]["analysis"]
    assert set(analysis) >= {"object_mass.scale", "object_pose.x", "object_color.color"}
    for key, entry in analysis.items():  # every bin and category, as the JSON has it
        rows = entry.get("bins") or list(entry["categories"].values())
        prefix = f"variations.analysis.{key}." + ("bins" if "bins" in entry else "categories")
        labels = range(len(rows)) if "bins" in entry else entry["categories"]
        for label, row in zip(labels, rows, strict=True):
            shown = keys.values[f"{prefix}.{label}.success_rate"].strip()
            assert shown == pct(row["success_rate"])
            assert keys.values[f"{prefix}.{label}.num_episodes"].strip() == str(row["n"])
    assert keys.images == len(analysis)  # one embedded plot per drawn value
    assert keys.videos == len(results["videos"]) == 8
    assert keys.values["reproduce"].strip() == results["reproduce"]
    for rel in results["videos"]:  # linked relative to the page, so the folder travels
        assert (out / rel).is_file()


@pytest.mark.integration
def test_sweep_report_in_a_browser_lists_every_job(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    run(
        "-m",
        "env=lift_object",
        "policy=scripted,zero_action",
        "num_envs=2",
        "length.n=4",
        "variations=[object_pose]",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    summary = json.loads((sweep / "summary.json").read_text())
    keys = browse(sweep / "report.html", tmp_path, tmp_path / "sweep_report.png")
    assert len(summary["rows"]) == 2
    for i, row in enumerate(summary["rows"]):
        assert keys.values[f"rows.{i}.success_rate"].strip() == pct(row["success_rate"])
        assert keys.values[f"rows.{i}.num_episodes"].strip() == str(row["num_episodes"])
        assert (sweep / row["job"] / "report.html").is_file()  # each job's own page
    rates = sorted(r["success_rate"] for r in summary["rows"])
    assert rates[0] == 0.0 and rates[1] >= 0.75  # zero_action and the expert


def test_report_command_rebuilds_a_job_page(tmp_path: Path) -> None:
    out = tmp_path / "job"
    run("num_envs=2", "length.n=2", f"hydra.run.dir={out}", cwd=tmp_path)
    (out / "report.html").unlink()
    exe = Path(sys.executable).parent / "arena-eval-report"
    proc = subprocess.run([exe, str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    page = (out / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # nothing fetched at view time
    assert 'data-key="metrics.num_episodes">2<' in page
