"""Static PNG plots for reports (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def importance_png(importance: dict[str, float], path: str | Path, top: int = 20) -> None:
    """Horizontal bar chart of the largest feature importances."""
    plt = _pyplot()
    items = sorted(importance.items(), key=lambda kv: kv[1])[-top:]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#c0392b")
    ax.set_xlabel("gain")
    ax.set_title("Hazard model: feature importance")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
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
    fig.savefig(path, dpi=110)
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
