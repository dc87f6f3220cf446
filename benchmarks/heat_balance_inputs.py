"""Decide on validation whether candidate columns become hazard-classifier inputs.

    .venv/bin/python benchmarks/heat_balance_inputs.py      # after `make run`, in the project
    .venv/bin/python benchmarks/heat_balance_inputs.py --candidate observer

Trains the hazard classifier twice on the training split of ``data/features`` (same rows, same
hyper-parameters, early-stopped on validation): once on ``split.json``'s features, once with the
heat-balance columns (:data:`batteryops.hazard.features.HEAT_BALANCE`) added (``--candidate
observer``: the thermal observer's, :data:`batteryops.hazard.observer.NAMES`). Each is scored on
every validation row, its threshold chosen on validation under the alarm budget exactly as
``evaluate`` does, and its validation event metrics printed side by side. The test split is not
read. The choices in ``features.output_names`` and ``featurize.observer_inputs`` follow this table
(model card, "Selection protocol").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params, load_params
from batteryops.core.io import partition_files, read_json
from batteryops.hazard import evaluate, events, models, observer, training
from batteryops.hazard.features import HEAT_BALANCE
from batteryops.hazard.labels import ROW_COLUMNS

VARIANTS = ("without", "with")
SHOWN = [
    ("validation PR AUC", "pr_auc", "{:.3f}"),
    ("best iteration", "best_iteration", "{:d}"),
    ("threshold", "threshold", "{:.6f}"),
    ("events alarmed >= min lead", "early", "{}"),
    ("false alarms / module-days", "fa", "{}"),
    ("FA per module-day upper 95 %", "false_alarms_per_module_day_upper95", "{:.4f}"),
    ("lead time p10 (min)", "lead_time_min_p10", "{:.1f}"),
    ("lead time median (min)", "lead_time_min_median", "{:.1f}"),
]


def fit(
    params: Params, files: list[Path], features: list[str], candidate: list[str] = HEAT_BALANCE
) -> dict[str, models.TrainedModel]:
    """The classifier on the base features and on the base plus the candidate columns."""
    features = [c for c in features if c not in candidate]
    extra = [c for c in candidate if c not in training.TRAINING_COLUMNS]
    train, validation = training.read_training_rows(files, features + extra, params.train)
    with_heat = features + candidate
    return {
        "without": models.train_hazard(train, validation, features, params.train),
        "with": models.train_hazard(train, validation, with_heat, params.train),
    }


def score_validation(files: list[Path], fitted: dict[str, models.TrainedModel]) -> pd.DataFrame:
    """Every validation row's keys and labels with both variants' probabilities."""
    columns = list(dict.fromkeys(ROW_COLUMNS + fitted["with"].features))
    parts = []
    for path in files:
        frame = pd.read_parquet(path, columns=columns, filters=[(schema.SPLIT, "==", "validation")])
        if frame.empty:
            continue
        kept = frame[ROW_COLUMNS].copy()
        for name, model in fitted.items():
            kept[name] = models.predict(model.booster, frame, model.features)
        parts.append(kept)
    return pd.concat(parts, ignore_index=True)


def judge(params: Params, scored: pd.DataFrame, truth: pd.DataFrame) -> dict[str, dict]:
    """Each variant's threshold and validation event metrics, chosen as ``evaluate`` does."""
    tracks = events.score_tracks(scored, truth, list(VARIANTS))
    trainable = scored[schema.TRAINABLE].to_numpy(dtype=bool)
    labels = scored[schema.HAZARD].to_numpy()[trainable]
    found = {}
    for name in VARIANTS:
        scores = np.concatenate([t.score for t in tracks[name]])
        candidates = np.concatenate(
            [
                evaluate.threshold_candidates(scores, params.evaluate.threshold_grid_size),
                events.critical_thresholds(tracks[name], params.alarm),
            ]
        )
        threshold, metrics = events.choose_threshold(tracks[name], candidates, params.alarm)
        row = evaluate.row_metrics(labels, scored[name].to_numpy()[trainable])
        found[name] = metrics | {"threshold": threshold, "pr_auc": row["pr_auc"]}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", choices=("heat_balance", "observer"), default="heat_balance")
    args = parser.parse_args()
    candidate = HEAT_BALANCE if args.candidate == "heat_balance" else observer.NAMES
    title = args.candidate.replace("_", " ")
    params = load_params()
    files = partition_files(params.paths.features_dir)
    copies = (
        partition_files(params.paths.logger_copies_dir) if params.featurize.logger_copies_s else []
    )
    features = read_json(params.paths.split)["features"]
    truth = pd.read_parquet(params.paths.truth)
    # Trained as the train stage does (with the logger copies), scored on 1 Hz validation.
    fitted = fit(params, files + copies, features, candidate)
    found = judge(params, score_validation(files, fitted), truth)
    print(f"hazard classifier on the validation split ({files[0].parent}); test not read")
    print(f"{'':32}{'without ' + title:>24}{'with ' + title:>24}")
    for title_row, key, form in SHOWN:
        cells = []
        for name in VARIANTS:
            metrics = found[name] | {"best_iteration": fitted[name].best_iteration}
            metrics["early"] = f"{metrics['events_detected_at_min_lead']} of {metrics['events']}"
            metrics["fa"] = f"{metrics['false_alarms']} / {metrics['watched_module_days']:.1f}"
            cells.append(form.format(metrics[key]))
        print(f"{title_row:32}{cells[0]:>24}{cells[1]:>24}")


if __name__ == "__main__":
    main()
