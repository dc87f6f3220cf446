"""The hazard champion judged on the candidate's data: re-scored on this run's test modules.

``register`` gates a candidate against the champion's metrics at the champion's own operating
point (its registered threshold, persistence and episode gap) on the same held-out modules, so a
change of fleet or split cannot pass for skill. A champion that cannot be loaded as a batteryops
model (an older flavour), that has no recorded threshold, or whose features this data lacks is
compared through its recorded metrics instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import AlarmParams
from batteryops.core.io import partition_files, read_json, read_rows
from batteryops.hazard import evaluate, events
from batteryops.hazard.labels import ROW_COLUMNS
from batteryops.hazard.model import EVIDENCE_AGE, PHYSICS_COLUMNS, HazardModel
from batteryops.hazard.models import ANOMALY_FEATURE
from batteryops.mlops import registry

log = logging.getLogger(__name__)

NO_CHAMPION = "no champion yet"
# What re-scoring reads of each features partition beside the champion's own features: the
# featurized row's columns bar those only training and the ΔT forecast need (order kept).
RESCORE_COLUMNS = [
    column
    for column in ROW_COLUMNS
    if column not in (schema.RACK_ID, schema.OVERHEAT, schema.DELTA_T_30S)
]


def compare_on_test_modules(
    name: str,
    version: str | None,
    *,
    features_dir: str | Path,
    split_path: str | Path,
    truth_path: str | Path,
    alarm: AlarmParams,
) -> tuple[dict[str, Any] | None, str]:
    """The champion's metrics on this run's test modules at its own threshold, and how obtained.

    Args:
        name: Registered model name.
        version: The champion's version, or None when there is no champion.
        features_dir: This run's feature partitions.
        split_path: This run's ``split.json`` (its ``features`` list).
        truth_path: This run's ground truth (faults, PNR times).
        alarm: The ``alarm`` section (persistence, episode merging, minimum lead).

    Returns:
        The metrics (None without a champion or anything recorded) and a note for the audit log.
    """
    if version is None:
        return None, NO_CHAMPION
    recorded = registry.metrics_from_tags(registry.version_tags(name, version))
    threshold = recorded.get("threshold")
    alarm = _own_alarm(name, version, alarm)
    fallback = (
        recorded or None,
        f"champion v{version} cannot be re-scored on this data; compared with its recorded metrics",
    )
    champion = _load_champion(name, version)
    if champion is None:
        return fallback
    base = [f for f in champion.features if f != ANOMALY_FEATURE]
    if threshold is None or not set(base) <= set(read_json(split_path)["features"]):
        return fallback
    metrics = metrics_on_test_modules(
        champion,
        rescore_columns(champion),
        partition_files(features_dir),
        pd.read_parquet(truth_path),
        threshold,
        alarm,
    )
    return (
        metrics,
        f"champion v{version} re-scored on this run's test modules at threshold {threshold:.4g}",
    )


def rescore_columns(model: HazardModel) -> list[str]:
    """The featurized columns a re-scoring reads: inputs, physics channels, the evidence gate.

    The physics columns come from the featurized table as stored (the signals some were computed
    from, such as ``cell_v_max``, are not stored, so they cannot be computed again there).
    """
    base = [f for f in model.features if f != ANOMALY_FEATURE]
    return base + [c for c in model.featurized_columns if c in PHYSICS_COLUMNS + [EVIDENCE_AGE]]


def metrics_on_test_modules(
    model: HazardModel,
    features: list[str],
    partitions: list[Path],
    truth: pd.DataFrame,
    threshold: float,
    alarm: AlarmParams,
) -> dict[str, Any]:
    """Score the test rows of each partition in turn (memory follows one rack) and judge them.

    Args:
        model: The model to score with.
        features: The model's input features to read (its anomaly score is computed, not read).
        partitions: Feature partition files.
        truth: Ground truth per module.
        threshold: The operating threshold on the hazard probability.
        alarm: The ``alarm`` section.

    Returns:
        :func:`batteryops.hazard.evaluate.split_metrics` without the per-event lead times.
    """
    tracks, labels, scores = [], [], []
    for path in partitions:
        ids = [schema.MODULE_ID, schema.SPLIT]  # as categoricals: codes, not a string per row
        frame = read_rows(path, RESCORE_COLUMNS + features, _test_rows, ids[1:], categorical=ids)
        if frame.empty:
            continue
        frame = model.prepare(frame)
        classifier = model.classifier_probability(frame)  # ranks rows, as in evaluate
        frame[events.PROBABILITY] = model.with_physics(frame, classifier)
        tracks += events.module_tracks(frame, truth, events.PROBABILITY)
        labelled = frame[schema.TRAINABLE].to_numpy()
        labels.append(frame.loc[labelled, schema.HAZARD].to_numpy())
        scores.append(classifier[labelled])
    result = evaluate.split_metrics(
        np.concatenate(labels), np.concatenate(scores), events.join_tracks(tracks), threshold, alarm
    )
    result.pop("lead_times_min", None)
    result.pop("lead_times_by_module", None)
    return result


def _test_rows(frame: pd.DataFrame) -> np.ndarray:
    return (frame[schema.SPLIT] == "test").to_numpy()


# What of the alarm belongs to a version's operating point (the rest defines the metrics).
OWN_ALARM_KEYS = ("persistence_k", "persistence_n", "episode_merge_gap_s")


def _own_alarm(name: str, version: str, alarm: AlarmParams) -> AlarmParams:
    """``alarm`` with the persistence and episode gap the champion was registered with."""
    from batteryops.hazard import pyfunc

    try:
        own = pyfunc.operating_point(f"models:/{name}/{version}")["alarm"]
    except FileNotFoundError:
        return alarm
    return alarm.model_copy(update={key: own[key] for key in OWN_ALARM_KEYS if key in own})


def _load_champion(name: str, version: str) -> HazardModel | None:
    """The champion as a batteryops hazard model, or None for an older or foreign flavour."""
    from batteryops.hazard import pyfunc

    try:
        return pyfunc.load_model(f"models:/{name}@{registry.CHAMPION}")
    except Exception as error:  # an older or foreign flavour: fall back, do not fail the stage
        log.warning("champion v%s not loadable as a batteryops model: %s", version, error)
        return None
