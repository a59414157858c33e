"""Success against each variation: binned rates with Wilson intervals and a logistic fit.

For a numeric variation (object mass, light intensity ...), the episodes are split into equal-
width bins of the drawn value, each with its success rate and 95 % Wilson interval, and
statsmodels fits ``P(success) = expit(b0 + b1 * value)`` by maximum likelihood: the slope, its
standard error and p-value, the value at which success crosses 50 %, and the fitted curve with
a 95 % band (delta method). A fit that cannot be made says why (every episode had the same
outcome, the value never changed, or the outcomes separate perfectly at a threshold, in which
case the threshold is reported instead). A categorical variation (colours, which distractors)
gets a rate per category.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from arena_eval.envs.base import EpisodeRecord
from arena_eval.metrics import wilson_interval
from arena_eval.variations import CATEGORICAL, Column

MAX_BINS = 5
CURVE_POINTS = 41
MIN_MINORITY = 3  # fewer successes (or failures) than this: no fit, say so
Z95 = 1.959964


def _rate(successes: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(successes, n)
    return {
        "n": n,
        "successes": successes,
        "success_rate": successes / n if n else None,
        "ci95": [low, high],
    }


def bins(x: np.ndarray, y: np.ndarray, max_bins: int = MAX_BINS) -> list[dict[str, Any]]:
    """Equal-width bins over the drawn range; integer values (counts) get a bin each."""
    lo, hi = float(x.min()), float(x.max())
    if np.all(x == np.round(x)) and hi - lo + 1 <= max_bins * 2:
        edges = np.arange(lo - 0.5, hi + 1.5)  # one bin per integer value
    elif hi == lo:
        edges = np.array([lo, hi])
    else:
        edges = np.linspace(lo, hi, min(max_bins, max(2, len(x) // 5)) + 1)
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    out = []
    for b in range(len(edges) - 1):
        mask = index == b
        n = int(mask.sum())
        if not n:
            continue
        out.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "centre": float(x[mask].mean()),
                **_rate(int(y[mask].sum()), n),
            }
        )
    return out


def logistic_fit(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Maximum-likelihood logistic regression of success on one value (statsmodels)."""
    if y.min() == y.max():
        outcome = "succeeded" if y[0] else "failed"
        return {"fitted": False, "reason": f"every episode {outcome}: nothing to fit"}
    if x.min() == x.max():
        return {"fitted": False, "reason": "the value never changed"}
    minority = int(min(y.sum(), len(y) - y.sum()))
    if minority < MIN_MINORITY:
        fewer = "successes" if y.sum() < len(y) - y.sum() else "failures"
        return {
            "fitted": False,
            "reason": f"only {minority} {fewer[:-1] if minority == 1 else fewer}: too few to fit",
        }
    failures, successes = x[y == 0], x[y == 1]
    if failures.max() < successes.min() or successes.max() < failures.min():
        # Complete separation: the likelihood has no maximum; the threshold is the finding.
        if failures.max() < successes.min():
            threshold = (failures.max() + successes.min()) / 2
            side = "above"
        else:
            threshold = (successes.max() + failures.min()) / 2
            side = "below"
        return {
            "fitted": False,
            "reason": f"the outcomes separate completely: success {side} {threshold:.4g}",
            "separation_threshold": float(threshold),
            "success_side": side,
        }
    with warnings.catch_warnings():  # statsmodels 0.14 on pandas 3: deprecation notices
        warnings.simplefilter("ignore")
        from statsmodels.discrete.discrete_model import Logit
        from statsmodels.tools.tools import add_constant

    # Standardised inside the fit for numerical conditioning; reported in the value's units.
    mu, sd = float(x.mean()), float(x.std())
    design = add_constant((x - mu) / sd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = Logit(y, design).fit(disp=0, maxiter=200)
        except Exception as err:  # singular Hessian and the like
            return {"fitted": False, "reason": f"the fit failed: {type(err).__name__}: {err}"}
    if not result.mle_retvals.get("converged", False):
        return {"fitted": False, "reason": "the maximum-likelihood fit did not converge"}
    a, b = (float(v) for v in result.params)
    cov = np.asarray(result.cov_params())
    slope, slope_se = b / sd, float(math.sqrt(cov[1, 1])) / sd
    intercept = a - b * mu / sd
    grid = np.linspace(float(x.min()), float(x.max()), CURVE_POINTS)
    g = np.stack([np.ones_like(grid), (grid - mu) / sd], axis=1)
    eta = g @ result.params
    se = np.sqrt(np.einsum("ij,jk,ik->i", g, cov, g))
    expit = lambda t: 1.0 / (1.0 + np.exp(-t))  # noqa: E731
    return {
        "fitted": True,
        "model": "logit: P(success) = 1 / (1 + exp(-(intercept + slope * value)))",
        "intercept": intercept,
        "slope": slope,
        "slope_se": slope_se,
        "slope_p_value": float(result.pvalues[1]),
        "odds_ratio_per_unit": float(math.exp(slope)) if abs(slope) < 700 else None,
        "value_at_50pct": float(-intercept / slope) if slope != 0 else None,
        "pseudo_r2": float(result.prsquared),
        "curve": {
            "value": grid.tolist(),
            "success_rate": expit(eta).tolist(),
            "ci95_low": expit(eta - Z95 * se).tolist(),
            "ci95_high": expit(eta + Z95 * se).tolist(),
        },
    }


def analyse(records: Sequence[EpisodeRecord], columns: Sequence[Column]) -> dict[str, Any]:
    """Per drawn value: bins and a logistic fit (numeric) or per-category rates."""
    out: dict[str, Any] = {}
    for col in columns:
        rows = [(r.variations.get(col.key), r.success) for r in records]
        rows = [(v, s) for v, s in rows if v is not None]
        if not rows:
            continue
        entry: dict[str, Any] = {"kind": col.kind, "unit": col.unit, "episodes": len(rows)}
        if col.kind == CATEGORICAL:
            # A set-valued column ("sugar_box+power_drill") counts each episode towards every
            # member it holds: "with sugar_box" over all episodes that had it.
            members = [set(str(v).split("+")) if col.multi else {str(v)} for v, _ in rows]
            cats = sorted(set().union(*members))
            entry["multi"] = col.multi
            entry["categories"] = {
                c: _rate(
                    sum(s for m, (_, s) in zip(members, rows, strict=True) if c in m),
                    sum(c in m for m in members),
                )
                for c in cats
            }
        else:
            x = np.array([float(v) for v, _ in rows])
            y = np.array([int(s) for _, s in rows])
            entry["range"] = [float(x.min()), float(x.max())]
            entry["bins"] = bins(x, y)
            entry["logistic"] = logistic_fit(x, y)
        out[col.key] = entry
    return out


def plot(analysis: dict[str, Any], key: str, path) -> None:
    """One variation's plot: binned rates with their intervals and the fitted curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entry = analysis[key]
    fig, ax = plt.subplots(figsize=(4.2, 2.8), dpi=100)
    if entry["kind"] == CATEGORICAL:
        cats = list(entry["categories"])
        rates = [entry["categories"][c]["success_rate"] for c in cats]
        lows = [r - entry["categories"][c]["ci95"][0] for c, r in zip(cats, rates, strict=True)]
        highs = [entry["categories"][c]["ci95"][1] - r for c, r in zip(cats, rates, strict=True)]
        ax.bar(range(len(cats)), rates, color="#4878a8", yerr=[lows, highs], capsize=3)
        ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right", fontsize=7)
    else:
        fit = entry["logistic"]
        if fit.get("fitted"):
            c = fit["curve"]
            ax.fill_between(c["value"], c["ci95_low"], c["ci95_high"], color="#f0b27a", alpha=0.4)
            ax.plot(c["value"], c["success_rate"], color="#d35400", label="logistic fit")
        elif "separation_threshold" in fit:
            ax.axvline(fit["separation_threshold"], color="#d35400", ls="--", label="threshold")
        b = entry["bins"]
        centres = [x["centre"] for x in b]
        rates = [x["success_rate"] for x in b]
        err = [
            [r - x["ci95"][0] for r, x in zip(rates, b, strict=True)],
            [x["ci95"][1] - r for r, x in zip(rates, b, strict=True)],
        ]
        ax.errorbar(centres, rates, yerr=err, fmt="o", color="#2e4053", capsize=3, label="bins")
        ax.set_xlabel(f"{key} ({entry['unit']})" if entry["unit"] else key, fontsize=8)
        ax.legend(fontsize=7, loc="best")
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("success rate", fontsize=8)
    ax.set_title(key, fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_compare(entries: dict[str, dict[str, Any]], key: str, path) -> None:
    """One drawn value across a sweep's jobs: each job's bins and fitted curve, or rates per
    category side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.2), dpi=100)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    first = next(iter(entries.values()))
    if first["kind"] == CATEGORICAL:
        cats = sorted({c for e in entries.values() for c in e["categories"]})
        width = 0.8 / len(entries)
        for j, (label, e) in enumerate(entries.items()):
            rates = [e["categories"].get(c, {}).get("success_rate") or 0 for c in cats]
            xs = [i + j * width for i in range(len(cats))]
            ax.bar(xs, rates, width, label=label, color=colors[j % len(colors)])
        ax.set_xticks(
            [i + 0.4 - width / 2 for i in range(len(cats))],
            cats,
            rotation=30,
            ha="right",
            fontsize=7,
        )
    else:
        for j, (label, e) in enumerate(entries.items()):
            color = colors[j % len(colors)]
            fit = e.get("logistic", {})
            if fit.get("fitted"):
                ax.plot(fit["curve"]["value"], fit["curve"]["success_rate"], color=color)
            b = e.get("bins", [])
            ax.errorbar(
                [x["centre"] for x in b], [x["success_rate"] for x in b],
                yerr=[[x["success_rate"] - x["ci95"][0] for x in b],
                      [x["ci95"][1] - x["success_rate"] for x in b]],
                fmt="o", color=color, capsize=2, label=label,
            )  # fmt: skip
        unit = first.get("unit")
        ax.set_xlabel(f"{key} ({unit})" if unit else key, fontsize=8)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("success rate", fontsize=8)
    ax.set_title(key, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
