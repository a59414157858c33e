"""report.html: a job's or a sweep's results as one static page (no server, no network).

Built only from what a run leaves on disk (results.json, episodes.csv, videos/, a sweep's
summary.json), so ``arena-eval-report`` rebuilds it anywhere, for runs made elsewhere. Plots
are embedded as PNG data URIs; videos are linked by their path relative to the page, so the
folder stays self-contained and the page opens from a file. Every number a test or a reader
checks carries a ``data-key`` attribute naming the JSON value it shows.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from pathlib import Path
from typing import Any

from arena_eval.results import EPISODES, RESULTS, atomic_write, read_episodes, read_results

REPORT = "report.html"
log = logging.getLogger("arena_eval")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1c2833;
background:#f4f6f7}
header{background:#1f3a5f;color:#fff;padding:18px 28px}header h1{margin:0;font-size:21px}
header p{margin:4px 0 0;opacity:.85}main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border-radius:8px;padding:14px 18px;margin:16px 0;
box-shadow:0 1px 3px rgba(0,0,0,.08)}h2{font-size:16px;margin:0 0 10px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{padding:4px 10px;border-bottom:1px solid #e5e8e8;text-align:left}
th{background:#eaf2f8;font-weight:600}.num{text-align:right}
.big{font-size:30px;font-weight:700;color:#1f3a5f}.muted{color:#7b8a8b}
.ok{color:#1e8449}.bad{color:#c0392b}.grid{display:flex;flex-wrap:wrap;gap:14px}
.card{border:1px solid #e5e8e8;border-radius:6px;padding:8px}figure{margin:0}
pre{background:#f8f9f9;padding:10px;overflow:auto;max-height:420px;font-size:12px}
video{width:320px;display:block}.bar{background:#d6eaf8;height:10px;border-radius:5px}
.bar>span{display:block;height:10px;border-radius:5px;background:#2e86c1}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _pct(x: Any) -> str:
    return "—" if x is None else f"{100 * float(x):.1f} %"


def _ci(ci: Any) -> str:
    if not ci or ci[0] is None:
        return ""
    return f"[{100 * ci[0]:.1f} %, {100 * ci[1]:.1f} %]"


def _num(key: str, text: str, cls: str = "num") -> str:
    return f'<td class="{cls}" data-key="{_e(key)}">{_e(text)}</td>'


def _png(fig_writer) -> str:
    buf = io.BytesIO()
    fig_writer(buf)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _page(title: str, subtitle: str, body: list[str]) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p>{_e(subtitle)}</p></header><main>"
        + "".join(body)
        + "</main></body></html>\n"
    )


def _rate_row(label: str, key: str, m: dict[str, Any]) -> str:
    rate = m.get("success_rate")
    width = 0 if rate is None else round(100 * rate)
    return (
        f"<tr><td>{_e(label)}</td>"
        + _num(f"{key}.success_rate", _pct(rate))
        + _num(f"{key}.ci95", _ci(m.get("success_ci95", m.get("ci95"))))
        + _num(f"{key}.num_episodes", str(m.get("num_episodes", m.get("n", 0))))
        + f'<td style="width:160px"><div class="bar"><span style="width:{width}%"></span></div>'
        "</td></tr>"
    )


# -- a job ---------------------------------------------------------------------------------


def job_report(job_dir: Path | str) -> Path:
    """Write ``report.html`` beside a job's results.json; return its path."""
    job_dir = Path(job_dir)
    results = read_results(job_dir / RESULTS)
    episodes = read_episodes(job_dir / EPISODES) if (job_dir / EPISODES).exists() else []
    job, m, timing = results.get("job", {}), results.get("metrics", {}), results.get("timing", {})
    title = " · ".join(
        str(x) for x in (job.get("env"), job.get("embodiment"), job.get("policy")) if x
    )
    status = results.get("status", "?")
    subtitle = (
        f"{results.get('name', '')} · {', '.join(job.get('objects', []))} · "
        f"{job.get('num_envs')} envs · seed {job.get('seed')} · sim {job.get('backend')} · "
        f"status {status}"
    )
    body = [_headline(m, timing, status)]
    if results.get("notes") or results.get("error"):
        items = "".join(f"<li>{_e(n)}</li>" for n in results.get("notes", []))
        if results.get("error"):
            items += f'<li class="bad">{_e(results["error"])}</li>'
        body.append(f"<section><h2>Notes</h2><ul>{items}</ul></section>")
    body.append(_metrics_section(m, timing))
    if m.get("per_object"):
        rows = "".join(
            _rate_row(o, f"metrics.per_object.{o}", pm) for o, pm in m["per_object"].items()
        )
        body.append(
            "<section><h2>Per object</h2><table><tr><th>object</th><th>success</th>"
            f"<th>95 % CI</th><th>episodes</th><th></th></tr>{rows}</table></section>"
        )
    if m.get("subtask_success_rate"):
        rows = "".join(
            f"<tr><td>{_e(k)}</td>" + _num(f"metrics.subtask_success_rate.{k}", _pct(v)) + "</tr>"
            for k, v in m["subtask_success_rate"].items()
        )
        body.append(
            f"<section><h2>Subtasks</h2><table><tr><th>subtask</th><th>rate</th></tr>{rows}"
            "</table></section>"
        )
    variations = results.get("variations")
    if variations:
        body.append(_variations_section(variations))
    if results.get("videos"):
        body.append(_videos_section(results["videos"], episodes))
    if episodes:
        body.append(_episodes_section(episodes))
    body.append(_config_section(results, job_dir))
    path = job_dir / REPORT
    atomic_write(path, _page(title or "arena-eval job", subtitle, body))
    return path


def _headline(m: dict[str, Any], timing: dict[str, Any], status: str) -> str:
    cls = "ok" if status == "completed" else "bad"
    return (
        '<section class="grid">'
        f'<div class="card"><div class="muted">success rate</div>'
        f'<div class="big" data-key="metrics.success_rate">{_pct(m.get("success_rate"))}</div>'
        f'<div class="muted" data-key="metrics.success_ci95">95 % CI '
        f"{_ci(m.get('success_ci95'))}</div></div>"
        f'<div class="card"><div class="muted">episodes</div>'
        f'<div class="big" data-key="metrics.num_episodes">{m.get("num_episodes", 0)}</div></div>'
        f'<div class="card"><div class="muted">status</div><div class="big {cls}">'
        f"{_e(status)}</div></div>"
        f'<div class="card"><div class="muted">env-steps/s</div><div class="big" '
        f'data-key="timing.env_steps_per_s">{timing.get("env_steps_per_s", 0):.0f}</div></div>'
        "</section>"
    )


def _metrics_section(m: dict[str, Any], timing: dict[str, Any]) -> str:
    rows = []
    for key in (
        "failure_rate",
        "timeout_rate",
        "object_moved_rate",
        "door_moved_rate",
    ):
        if m.get(key) is not None:
            rows.append(f"<tr><td>{key}</td>" + _num(f"metrics.{key}", _pct(m[key])) + "</tr>")
    if m.get("episode_length_mean") is not None:
        rows.append(
            "<tr><td>episode length (mean / p90)</td>"
            + _num(
                "metrics.episode_length_mean",
                f"{m['episode_length_mean']:.1f} / {m.get('episode_length_p90', 0):.0f} steps",
            )
            + "</tr>"
        )
    rows.append(
        "<tr><td>wall time</td>"
        + _num(
            "timing.rollout_s",
            f"{timing.get('rollout_s', 0):.2f} s (+ {timing.get('setup_s', 0):.2f} s setup)",
        )
        + "</tr>"
    )
    return f"<section><h2>Metrics</h2><table>{''.join(rows)}</table></section>"


def _variations_section(variations: dict[str, Any]) -> str:
    from arena_eval.analysis import plot

    analysis = variations.get("analysis", {})
    cards = []
    for key, entry in analysis.items():
        try:
            img = _png(lambda buf, k=key: plot(analysis, k, buf))
            fig = f'<img alt="{_e(key)}" src="{img}" width=420>'
        except Exception as err:  # a plot never costs the report
            fig = f'<p class="muted">no plot: {_e(err)}</p>'
        if entry["kind"] == "categorical":
            rows = "".join(
                _rate_row(c, f"variations.analysis.{key}.categories.{c}", r)
                for c, r in entry["categories"].items()
            )
            detail = (
                "<table><tr><th>value</th><th>success</th><th>95 % CI</th><th>episodes</th>"
                f"<th></th></tr>{rows}</table>"
            )
        else:
            fit = entry.get("logistic", {})
            if fit.get("fitted"):
                x50 = fit.get("value_at_50pct")
                fit_text = (
                    f"logistic slope {fit['slope']:.4g} ± {fit['slope_se']:.2g} per "
                    f"{entry.get('unit') or 'unit'} (p = {fit['slope_p_value']:.3g})"
                    + (f"; 50 % at {x50:.4g}" if x50 is not None else "")
                )
            else:
                fit_text = fit.get("reason", "")
            rows = "".join(
                _rate_row(
                    f"{b['low']:.4g} … {b['high']:.4g}", f"variations.analysis.{key}.bins.{i}", b
                )
                for i, b in enumerate(entry.get("bins", []))
            )
            detail = (
                f'<p data-key="variations.analysis.{_e(key)}.logistic">{_e(fit_text)}</p>'
                "<table><tr><th>bin</th><th>success</th><th>95 % CI</th><th>episodes</th>"
                f"<th></th></tr>{rows}</table>"
            )
        cards.append(f'<div class="card"><figure>{fig}</figure>{detail}</div>')
    config = json.dumps(variations.get("config", {}), indent=2)
    return (
        "<section><h2>Variations: success against each drawn value</h2>"
        f'<div class="grid">{"".join(cards)}</div>'
        f"<details><summary>variation settings</summary><pre>{_e(config)}</pre></details>"
        "</section>"
    )


def _bin_label(b: dict[str, Any]) -> str:
    if b["high"] - b["low"] == 1 and (b["low"] + 0.5).is_integer():  # one integer's bin
        return f"{b['low'] + 0.5:g}"
    return f"{b['low']:.3g} … {b['high']:.3g}"


def _videos_section(videos: list[str], episodes: list[dict[str, str]]) -> str:
    cards = []
    for rel in videos:
        name = Path(rel).stem  # ep0003_env1_success
        outcome = name.rsplit("_", 1)[-1]
        cls = "ok" if outcome == "success" else "bad"
        cards.append(
            f'<div class="card"><video controls preload="metadata" src="{_e(rel)}"></video>'
            f'<div><b>{_e(name.split("_")[0])}</b> <span class="{cls}">{_e(outcome)}</span>'
            "</div></div>"
        )
    return f'<section><h2>Videos</h2><div class="grid">{"".join(cards)}</div></section>'


def _episodes_section(episodes: list[dict[str, str]], limit: int = 500) -> str:
    cols = list(episodes[0])
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(_short(e[c]))}</td>" for c in cols) + "</tr>"
        for e in episodes[:limit]
    )
    more = f"<p class=muted>first {limit} of {len(episodes)}</p>" if len(episodes) > limit else ""
    return (
        f"<section><details><summary><b>Episodes ({len(episodes)})</b></summary>{more}"
        f'<div style="overflow:auto"><table>{head and f"<tr>{head}</tr>"}{rows}</table></div>'
        "</details></section>"
    )


def _short(value: str) -> str:
    try:
        f = float(value)
    except ValueError:
        return value
    return value if f.is_integer() and "." not in value else f"{f:.4g}"


def _config_section(results: dict[str, Any], job_dir: Path) -> str:
    saved = job_dir / ".hydra" / "config.yaml"  # what Hydra saved: the replayed config itself
    if saved.is_file():
        config = saved.read_text()
    else:
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~10x faster
        config = yaml.dump(results.get("config", {}), Dumper=dumper, sort_keys=False)
    return (
        "<section><h2>Reproduce</h2>"
        f'<pre data-key="reproduce">{_e(results.get("reproduce", ""))}</pre>'
        f"<details><summary>resolved config</summary><pre>{_e(config)}</pre></details>"
        "</section>"
    )


# -- a sweep -------------------------------------------------------------------------------


def sweep_report(sweep_dir: Path | str, rows: list[dict[str, Any]] | None = None) -> Path:
    """Write ``report.html`` beside a sweep's summary: every job with its CI and a link."""
    sweep_dir = Path(sweep_dir)
    if rows is None:
        rows = json.loads((sweep_dir / "summary.json").read_text()).get("rows", [])
    body = []
    table = []
    for i, r in enumerate(rows):
        job = str(r.get("job", ""))
        link = f'<a href="{_e(job)}/{REPORT}">{_e(r.get("label") or job)}</a>'
        if not (sweep_dir / job / REPORT).exists():
            link = _e(r.get("label") or job)
        status = r.get("status")
        cls = "ok" if status == "completed" else "bad"
        table.append(
            f"<tr><td>{link}</td><td class={cls}>{_e(status)}</td>"
            + _num(f"rows.{i}.success_rate", _pct(r.get("success_rate")))
            + _num(
                f"rows.{i}.ci95",
                _ci([r.get("ci95_low"), r.get("ci95_high")])
                if r.get("ci95_low") is not None
                else "",
            )
            + _num(f"rows.{i}.num_episodes", str(r.get("num_episodes", 0)))
            + f"<td>{_e(r.get('error') or '')}</td></tr>"
        )
    body.append(
        "<section><h2>Jobs</h2><table><tr><th>job</th><th>status</th><th>success</th>"
        f"<th>95 % CI</th><th>episodes</th><th>error</th></tr>{''.join(table)}</table></section>"
    )
    compare = _sweep_variations(sweep_dir, rows)
    if compare:
        body.append(compare)
    png = sweep_dir / "summary.png"
    if png.exists():
        data = base64.b64encode(png.read_bytes()).decode()
        body.append(
            f'<section><h2>Success by job</h2><img alt="summary" width=720 '
            f'src="data:image/png;base64,{data}"></section>'
        )
    path = sweep_dir / REPORT
    atomic_write(path, _page(f"sweep: {sweep_dir.name}", str(sweep_dir), body))
    return path


def _sweep_variations(sweep_dir: Path, rows: list[dict[str, Any]]) -> str:
    """Each drawn value across the sweep's jobs, one plot per value (jobs with variations)."""
    from arena_eval.analysis import plot_compare

    per_key: dict[str, dict[str, Any]] = {}
    for r in rows:
        path = sweep_dir / str(r.get("job", "")) / RESULTS
        if not path.is_file():
            continue
        analysis = (read_results(path).get("variations") or {}).get("analysis") or {}
        for key, entry in analysis.items():
            per_key.setdefault(key, {})[str(r.get("label") or r.get("job"))] = entry
    cards = []
    for key, entries in per_key.items():
        try:
            img = _png(lambda buf, k=key, e=entries: plot_compare(e, k, buf))
        except Exception as err:  # a plot never costs the report
            cards.append(f'<div class="card muted">{_e(key)}: no plot: {_e(err)}</div>')
            continue
        cards.append(f'<div class="card"><img alt="{_e(key)}" src="{img}" width=520></div>')
    if not cards:
        return ""
    return (
        "<section><h2>Variations across jobs</h2>"
        f'<div class="grid">{"".join(cards)}</div></section>'
    )


def safe(fn, *args) -> Path | None:
    """Write a report without ever failing the run that asked for it."""
    try:
        return fn(*args)
    except Exception as err:  # a report is a view: the results on disk are what counts
        log.warning("report.html not written: %s: %s", type(err).__name__, err)
        return None
