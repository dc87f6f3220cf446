"""Static PNG plots for reports (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from batteryops.core.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> None:
    """Write ``fig`` as a PNG at ``path`` (its folder made if missing), atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def importance_png(importance: dict[str, float], path: str | Path, top: int = 20) -> None:
    """Horizontal bar chart of the largest feature importances."""
    plt = _pyplot()
    items = sorted(importance.items(), key=lambda kv: kv[1])[-top:]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#c0392b")
    ax.set_xlabel("gain")
    ax.set_title("Hazard model: feature importance")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def pr_curve_png(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> None:
    """Precision-recall curves, one line per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, (recall, precision) in curves.items():
        ax.plot(recall, precision, label=name)
    ax.set_xlabel("recall (hazard seconds)")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend()
    ax.set_title("Held-out modules: precision-recall")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def lead_time_png(
    lead_times_min: dict[str, list[float]], min_lead_min: float, path: str | Path
) -> None:
    """Histogram of alarm lead times before the point of no return."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    values = [v for v in lead_times_min.values() if v]
    bins = np.linspace(0, max([max(v) for v in values], default=1.0) + 1, 20)
    for name, leads in lead_times_min.items():
        ax.hist(leads, bins=bins, alpha=0.6, label=f"{name} ({len(leads)} events)")
    ax.axvline(min_lead_min, color="k", linestyle="--", label="minimum lead")
    ax.set_xlabel("lead time before PNR (min)")
    ax.set_ylabel("runaway events")
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def shap_summary_png(
    contributions: np.ndarray,
    values: np.ndarray,
    names: list[str],
    path: str | Path,
    top: int = 15,
    xlabel: str = "TreeSHAP contribution to hazard log-odds (blue: low value, red: high)",
    title: str = "Hazard model: what drives the score (held-out rows)",
) -> None:
    """SHAP summary: per feature, each row's contribution, coloured by the feature's value.

    Args:
        contributions: Rows x features SHAP values, bias column removed.
        values: The feature values of the same rows.
        names: Feature names.
        path: PNG to write.
        top: How many features (largest mean absolute contribution) to show.
        xlabel: The x axis label (what the contributions add up to).
        title: The plot title.
    """
    plt = _pyplot()
    order = np.argsort(np.abs(contributions).mean(axis=0))[-top:]
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(order) + 1.5))
    rng = np.random.default_rng(0)
    for row, j in enumerate(order):
        column = values[:, j]
        finite = np.isfinite(column)
        low, high = np.nanpercentile(column[finite], [5, 95]) if finite.any() else (0.0, 1.0)
        shade = np.clip((column - low) / (high - low if high > low else 1.0), 0, 1)
        jitter = rng.uniform(-0.3, 0.3, len(column))
        ax.scatter(
            contributions[:, j],
            row + jitter,
            c=np.where(finite, shade, 0.5),
            cmap="coolwarm",
            s=4,
            alpha=0.6,
            linewidths=0,
        )
    ax.set_yticks(range(len(order)), [names[j] for j in order])
    ax.axvline(0.0, color="k", linewidth=0.6)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def reliability_png(tables: dict[str, list[dict]], path: str | Path) -> None:
    """Reliability diagram: observed rate against mean predicted probability per bin."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 4.5))
    ax.plot([0, 1], [0, 1], color="k", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, rows in tables.items():
        ax.plot(
            [r["mean_predicted"] for r in rows],
            [r["observed"] for r in rows],
            marker="o",
            label=name,
        )
    ax.set_xlabel("mean predicted hazard probability (bin)")
    ax.set_ylabel("observed share of hazard rows")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
