"""The ``evaluate`` stage's work: thresholds chosen on validation, every score judged on test.

Held-out partitions are scored a few at a time (:func:`score_partition`; ``compute.threads`` at
once in the stage's process) and only scores are kept, so memory follows a few rack-days, not
the fleet. Each learned score (the model, logistic regression,
IsolationForest) gets its own threshold on validation modules under the same alarm budget
(:func:`choose_thresholds`), and so does the temperature / dT/dt rule: every score is compared at
an operating point chosen the same way, none at a fixed definition. The test split is
read for metrics only after those choices (:func:`results_on_test`, :func:`hazard_metrics`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import plots, schema
from batteryops.core.compute import Runner
from batteryops.core.config import (
    AlarmParams,
    DeratingParams,
    EvaluateParams,
    RuleBaselineParams,
    TrackingParams,
)
from batteryops.core.io import (
    atomic_dir,
    atomic_path,
    parquet_writer,
    read_rows,
    release_memory,
)
from batteryops.hazard import calibration, evaluate, events
from batteryops.hazard.labels import ROW_COLUMNS
from batteryops.hazard.model import DELTA_T_FORECAST, HazardModel
from batteryops.hazard.models import (
    ANOMALY_FEATURE,
    HEAT_BALANCE_FEATURE,
    TREND_FEATURE,
    delta_t_forecasts,
)
from batteryops.mlops import tracking

RULE, LOGISTIC, ANOMALY = evaluate.RULE_SCORE, "logistic_probability", ANOMALY_FEATURE
# Score column -> name under ``baselines`` in the metrics (the model's own is top level).
LEARNED = {events.PROBABILITY: None, LOGISTIC: "logistic_regression", ANOMALY: "isolation_forest"}
JUDGED = [*LEARNED, RULE]
# The classifier's probability before the physics alarm (``HazardModel.with_physics``) raises it:
# it ranks rows (PR AUC, calibration) and its validation tracks choose the model's threshold, so
# the physics alarm, which needs no threshold, cannot move the classifier's operating point.
CLASSIFIER = "classifier_probability"
ROW_SCORE = {events.PROBABILITY: CLASSIFIER}  # judged column -> the score its rows are ranked by
TRACKED = [*JUDGED, CLASSIFIER]
# Score column -> its name in the plots.
PLOT_NAMES = {events.PROBABILITY: "model", RULE: "rule"} | {
    column: name for column, name in LEARNED.items() if name is not None
}
HELD_OUT = ("validation", "test")
SUMMARY_KEYS = [
    "pr_auc",
    "roc_auc",
    "event_recall",
    "event_recall_lower95",
    "event_recall_at_min_lead",
    "event_recall_at_min_lead_lower95",
    "lead_time_min_p10",
    "lead_time_min_median",
    "false_alarms_per_module_day",
    "false_alarms_per_module_day_upper95",
    "threshold",
    "events",
    "events_detected",
    "events_detected_at_min_lead",
    "false_alarms",
    "watched_module_days",
    "healthy_module_days",
]
# The scores table: each held-out row's keys and labels, then every score and the ΔT forecast.
SCORES = [events.PROBABILITY, LOGISTIC, ANOMALY, RULE, DELTA_T_FORECAST]
# What the ΔT forecasts are judged on (:func:`_delta_t_sums`).
DELTA_T_ROWS = [
    schema.DELTA_T_30S,
    schema.OVERHEAT,
    schema.HAZARD,
    DELTA_T_FORECAST,
    TREND_FEATURE,
    HEAT_BALANCE_FEATURE,
]
# Held-out rows scored at once: whole modules up to about this many rows (a 388,800 s module is
# 0.39 M). Scoring holds about 0.7 kB per row (the frame, the model matrix, five scores and
# their tracks), so 1.6 M rows keep evaluate's peak near 1.1 GB above what it has kept.
SCORE_CHUNK_ROWS = 1_600_000
# Id columns read as categoricals (selecting a split or a module compares codes, not a string
# per row); the scores table gets them back as strings.
IDS = [schema.RACK_ID, schema.MODULE_ID, schema.SPLIT]


@dataclass
class ScoredPartition:
    """What one held-out partition contributes to the evaluation."""

    tracks: dict[str, dict[str, list[events.ModuleTrack]]]  # split -> score column -> tracks
    labels: np.ndarray  # ``hazard`` of the test split's trainable rows
    row_scores: dict[str, np.ndarray]  # score column -> those rows' scores
    delta_t_rows: pd.DataFrame  # those rows' ΔT target, forecast and base columns (DELTA_T_ROWS)
    horizon_s: int  # the ΔT forecast's horizon
    shap: pd.DataFrame  # a sample of those rows' features
    table: pd.DataFrame  # the rows of the scores table (``ROW_COLUMNS + SCORES``)
    # ``hazard`` and the model's probability of the validation split's trainable rows (the
    # calibration is fitted on them).
    validation: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))

    @property
    def delta_t_sums(self) -> dict[str, dict[str, float]]:
        """:func:`evaluate.delta_t_sums` of the ΔT forecasts on the test split's trainable rows."""
        return _delta_t_sums(self.delta_t_rows, self.horizon_s)

    @classmethod
    def merge(cls, parts: list[ScoredPartition]) -> ScoredPartition:
        """One partition of several scored in turn (module groups of one file), in order.

        The ΔT rows are kept, not their sums, so that the file's sums are the same numbers
        whatever the grouping (a float sum depends on its order).
        """
        first = parts[0]
        tracks: dict[str, dict[str, list[events.ModuleTrack]]] = {}
        for part in parts:
            for split, by_column in part.tracks.items():
                for column, built in by_column.items():
                    tracks.setdefault(split, {}).setdefault(column, []).extend(built)
        return cls(
            tracks=tracks,
            labels=np.concatenate([p.labels for p in parts]),
            row_scores={c: np.concatenate([p.row_scores[c] for p in parts]) for c in JUDGED},
            delta_t_rows=pd.concat([p.delta_t_rows for p in parts], ignore_index=True),
            horizon_s=first.horizon_s,
            shap=pd.concat([p.shap for p in parts], ignore_index=True),
            table=pd.concat([p.table for p in parts], ignore_index=True),
            validation=(
                np.concatenate([p.validation[0] for p in parts]),
                np.concatenate([p.validation[1] for p in parts]),
            ),
        )


@dataclass
class HeldOutScores:
    """What scoring every held-out partition keeps: tracks, test scores, ΔT sums, a SHAP sample."""

    tracks: dict[str, dict[str, list[events.ModuleTrack]]] = field(
        default_factory=lambda: {split: {c: [] for c in TRACKED} for split in HELD_OUT}
    )
    labels: list[np.ndarray] = field(default_factory=list)
    row_scores: dict[str, list[np.ndarray]] = field(default_factory=lambda: {c: [] for c in JUDGED})
    delta_t_sums: dict[str, dict[str, float]] = field(default_factory=dict)
    shap_rows: list[pd.DataFrame] = field(default_factory=list)
    validation_rows: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    # Score column -> its test PR curve, drawn by results_on_test from the sort its metrics made.
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def add(self, partition: ScoredPartition) -> None:
        """Keep one partition's contribution (not its scores table)."""
        for split, by_column in partition.tracks.items():
            for column, built in by_column.items():
                self.tracks[split][column].extend(built)
        self.labels.append(partition.labels)
        for column in self.row_scores:
            self.row_scores[column].append(partition.row_scores[column])
        evaluate.add_sums(self.delta_t_sums, partition.delta_t_sums)
        self.shap_rows.append(partition.shap)
        self.validation_rows.append(partition.validation)

    def join_tracks(self) -> None:
        """One track per module (its days' partitions joined: :func:`events.join_tracks`).

        The scores of one split share each module's joined seconds and exclusions (five copies
        of them were 0.4 GB of the validation tracks' 0.95 GB on the default fleet).
        """
        for by_column in self.tracks.values():
            grids: dict[tuple[str, float, int], events.Grid] = {}
            for column, tracks in by_column.items():
                by_column[column] = events.join_tracks(tracks, grids)

    def validation_labels_and_probability(self) -> tuple[np.ndarray, np.ndarray]:
        """``hazard`` and the model's probability of every trainable validation row."""
        if not self.validation_rows:
            return np.empty(0), np.empty(0)
        labels, probability = zip(*self.validation_rows, strict=True)
        return np.concatenate(labels), np.concatenate(probability)

    def test_labels(self) -> np.ndarray:
        """``hazard`` of every trainable test row, partition after partition."""
        return np.concatenate(self.labels)

    def test_scores(self, column: str) -> np.ndarray:
        """One score of every trainable test row, in the order of :meth:`test_labels`."""
        return np.concatenate(self.row_scores[column])

    def shap_sample(self) -> pd.DataFrame:
        """The test rows sampled for the SHAP summary, every partition's together."""
        return pd.concat(self.shap_rows, ignore_index=True)


def score_partition(
    frame: pd.DataFrame,
    model: HazardModel,
    truth: pd.DataFrame,
    rule: RuleBaselineParams,
    horizon_s: int,
    shap_rows: int,
    rng: np.random.Generator,
    shap_positions: np.ndarray | None = None,
) -> ScoredPartition:
    """Score one partition's held-out rows with the model, the baselines and the ΔT forecast.

    Args:
        frame: Featurized validation and test rows (``ROW_COLUMNS``, the model's inputs bar the
            anomaly score, and the heat-balance slope).
        model: The trained model.
        truth: Ground truth per module.
        rule: The ``evaluate.rule_baseline`` section.
        horizon_s: The ΔT forecast's horizon (``label.delta_t_horizon_s``).
        shap_rows: How many test rows to sample for the SHAP summary.
        rng: Draws that sample (consumed once per call).
        shap_positions: The sample's rows (positions in ``frame``), drawn by the caller
            (:func:`shap_positions`); ``shap_rows`` and ``rng`` are then unused.

    Returns:
        The partition's tracks, test labels and scores, ΔT error sums, SHAP sample and scores table.
    """
    frame = model.prepare(frame)
    # The inputs once, as one array, for every model (a frame copy per model is slow).
    matrix = model.matrix(frame)
    classifier = model.classifier_probability(frame, matrix)
    scores = {
        CLASSIFIER: classifier,
        events.PROBABILITY: model.with_physics(frame, classifier),
        LOGISTIC: model.baselines.logistic_probability(matrix),
        ANOMALY: model.baselines.anomaly_score(matrix),
        RULE: evaluate.rule_score(frame, rule),
    }
    is_test = (frame[schema.SPLIT] == "test").to_numpy()
    forecast = np.full(len(frame), np.nan, dtype=np.float32)  # judged on test rows only
    # The forecast's base reads only these columns: copy them, not the whole test frame.
    base = [c for c in (TREND_FEATURE, HEAT_BALANCE_FEATURE) if c in frame.columns]
    forecast[is_test] = model.delta_t_forecast(frame.loc[is_test, base], matrix[is_test])
    if shap_positions is None:
        shap_positions = shap_positions_of(
            is_test & frame[schema.TRAINABLE].to_numpy(),
            frame[schema.HAZARD].to_numpy(),
            shap_rows,
            rng,
        )
    shap = frame.iloc[shap_positions][model.features].reset_index(drop=True)
    del matrix
    kept = ROW_COLUMNS + [TREND_FEATURE, HEAT_BALANCE_FEATURE]
    frame = frame[kept].assign(**scores, **{DELTA_T_FORECAST: forecast})
    trainable = frame[schema.TRAINABLE].to_numpy()
    test = frame[is_test & trainable]
    validation = (frame[schema.SPLIT] == "validation").to_numpy() & trainable
    return ScoredPartition(
        tracks=_split_tracks(frame, truth),
        labels=test[schema.HAZARD].to_numpy(),
        row_scores={
            column: test[ROW_SCORE.get(column, column)].to_numpy(dtype=np.float32)
            for column in JUDGED
        },
        delta_t_rows=test[DELTA_T_ROWS].reset_index(drop=True),
        horizon_s=horizon_s,
        shap=shap,
        # Every score stored as float32, as the model's own probability is (the baselines'
        # float64 scores took 345 of the table's 490 MB).
        table=frame[ROW_COLUMNS + SCORES].astype(
            dict.fromkeys(SCORES, np.float32) | dict.fromkeys(IDS, object)
        ),
        validation=(
            frame[schema.HAZARD].to_numpy()[validation].astype(np.int8),
            classifier[validation].astype(np.float32),
        ),
    )


def _split_tracks(
    frame: pd.DataFrame, truth: pd.DataFrame
) -> dict[str, dict[str, list[events.ModuleTrack]]]:
    """Each held-out split's module tracks of every judged score."""
    tracks: dict[str, dict[str, list[events.ModuleTrack]]] = {}
    for split in HELD_OUT:
        part = frame[frame[schema.SPLIT] == split].reset_index(drop=True)
        if not part.empty:
            tracks[split] = events.score_tracks(part, truth, TRACKED)
    return tracks


def _delta_t_sums(test: pd.DataFrame, horizon_s: int) -> dict[str, dict[str, float]]:
    """The ΔT forecasts' error sums on test rows: all of them, overheat rows, hazard windows."""
    subsets = {
        "all": np.ones(len(test), dtype=bool),
        "overheat": test[schema.OVERHEAT].to_numpy() > 0,
        "hazard": test[schema.HAZARD].to_numpy() > 0,
    }
    return evaluate.delta_t_sums(
        test[schema.DELTA_T_30S].to_numpy(dtype=float),
        delta_t_forecasts(test, test[DELTA_T_FORECAST].to_numpy(), horizon_s),
        subsets,
    )


def shap_positions_of(
    test: np.ndarray, hazard: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Up to ``size`` of the ``test`` rows, half from hazard windows, half from anywhere.

    Args:
        test: Which rows may be drawn (the test split's trainable rows).
        hazard: Each row's ``hazard`` label.
        size: How many rows to draw.
        rng: Draws them.

    Returns:
        The drawn rows' positions, ascending.
    """
    among = np.flatnonzero(test)
    hot = np.flatnonzero(hazard[among] > 0)
    take = rng.choice(hot, min(len(hot), size // 2), replace=False) if len(hot) else []
    rest = rng.choice(len(among), min(len(among), size - len(take)), replace=False)
    return among[np.unique(np.concatenate([np.asarray(take, dtype=int), rest]))]


def _held_out_keys(path: Path) -> pd.DataFrame:
    """A featurized partition's held-out rows: their positions in the file, module, label, split."""
    import pyarrow.parquet as pq

    keys = [schema.MODULE_ID, schema.SPLIT, schema.HAZARD, schema.TRAINABLE]
    frame = pq.read_table(path, columns=keys, read_dictionary=IDS).to_pandas()
    held = frame[schema.SPLIT].isin(HELD_OUT).to_numpy()
    return frame[held].assign(position=np.flatnonzero(held)).reset_index(drop=True)


def module_chunks(modules: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Runs of whole modules (rows sorted by module) of at most ``limit`` rows where they can be.

    A module longer than ``limit`` is a run of its own.
    """
    starts = np.concatenate([[0], np.flatnonzero(modules[1:] != modules[:-1]) + 1])
    bounds, lo = [], 0
    for start, end in zip(starts, [*starts[1:], len(modules)], strict=True):
        if end - lo > limit and start > lo:
            bounds.append((lo, int(start)))
            lo = int(start)
    if len(modules):
        bounds.append((lo, len(modules)))
    return bounds


def score_held_out(
    files: Sequence[Path],
    model: HazardModel,
    truth: pd.DataFrame,
    section: EvaluateParams,
    horizon_s: int,
    seed: int,
    scores_path: str | Path,
    runner: Runner | None = None,
) -> HeldOutScores:
    """Score the held-out rows of every featurized partition; write the scores table.

    Each partition is a task of ``runner`` (:func:`score_file`: in this process, or on Dask
    workers), scored a few whole modules at a time (:data:`SCORE_CHUNK_ROWS`); what it
    contributes depends neither on that grouping nor on where it ran (its SHAP sample is drawn
    from its own stream, ``[seed, index]``). Each task writes its rows of the scores table to
    a file of its own, appended in partition order to ``scores_path`` as its result comes back.

    Args:
        files: The featurized partitions, in order.
        model: The trained model.
        truth: Ground truth per module.
        section: The ``evaluate`` section.
        horizon_s: The ΔT forecast's horizon (``label.delta_t_horizon_s``).
        seed: Seeds the SHAP sample (``train.seed``).
        scores_path: Where the scores table goes (Parquet, written atomically).
        runner: Where the partitions are scored (default: here, one after another).

    Returns:
        What every partition contributed.
    """
    scores_path = Path(scores_path)
    scores_path.parent.mkdir(parents=True, exist_ok=True)
    tables = Path(
        tempfile.mkdtemp(prefix=f".{scores_path.name}.", suffix=".parts", dir=scores_path.parent)
    )
    scored = HeldOutScores()
    try:
        results = (runner or Runner()).imap(
            score_file,
            list(enumerate(files)),
            model=model,
            truth=truth,
            rule=section.rule_baseline,
            horizon_s=horizon_s,
            seed=seed,
            shap_rows=max(section.shap_sample_rows // len(files), 1),
            tables=tables,
        )
        # Each partition's contribution is kept and its table appended as it comes back, so
        # what is held grows by what is kept, not by every partition's whole result.
        with atomic_path(scores_path) as scores_tmp, _JoinedTables(scores_tmp) as joined:
            for index, part in enumerate(results):
                if part is None:
                    continue
                joined.append(tables / f"{index:06d}.parquet")
                scored.add(part)
                del part
                release_memory()
    finally:
        shutil.rmtree(tables, ignore_errors=True)
    scored.join_tracks()
    return scored


def score_file(
    item: tuple[int, Path],
    model: HazardModel,
    truth: pd.DataFrame,
    rule: RuleBaselineParams,
    horizon_s: int,
    seed: int,
    shap_rows: int,
    tables: Path,
) -> ScoredPartition | None:
    """Score one featurized partition's held-out rows; write its scores to ``tables``.

    ``item`` is the partition's index and path; its rows of the scores table go to
    ``tables/<index>.parquet`` (written whole, then renamed: a task run twice writes the same
    file). Returns its contribution without the table, or None if it holds no held-out row.
    """
    import pyarrow as pa

    index, path = item
    keys = _held_out_keys(path)
    if keys.empty:
        return None
    base = [name for name in model.features if name != ANOMALY_FEATURE]
    columns = list(dict.fromkeys(ROW_COLUMNS + base + model.featurized_columns))
    test = (keys[schema.SPLIT] == "test").to_numpy() & keys[schema.TRAINABLE].to_numpy()
    rng = np.random.default_rng([seed, index])
    sample = shap_positions_of(test, keys[schema.HAZARD].to_numpy(), shap_rows, rng)
    parts = []
    modules = keys[schema.MODULE_ID].cat.codes.to_numpy()
    with atomic_path(tables / f"{index:06d}.parquet") as table_tmp:
        writer, table_schema = None, None
        for lo, hi in module_chunks(modules, SCORE_CHUNK_ROWS):
            positions = keys["position"].to_numpy()[lo:hi]
            frame = read_rows(path, columns, positions, categorical=IDS)
            in_chunk = sample[(sample >= lo) & (sample < hi)] - lo
            part = score_partition(frame, model, truth, rule, horizon_s, 0, rng, in_chunk)
            del frame
            if writer is None:
                table_schema = pa.Schema.from_pandas(part.table, preserve_index=False)
                writer = parquet_writer(table_tmp, table_schema, [schema.RACK_ID, schema.SPLIT])
            writer.write_table(
                pa.Table.from_pandas(part.table, schema=table_schema, preserve_index=False)
            )
            part.table = part.table.iloc[:0]
            parts.append(part)
            release_memory()
        writer.close()
    return ScoredPartition.merge(parts)


class _JoinedTables:
    """Parquet files written one after another into ``out``, a row group at a time.

    Every file's columns are cast to the first file's schema (a partition whose score column is
    all missing may have stored it with another type); each file is deleted once appended.
    """

    def __init__(self, out: Path):
        self.out = out
        self.writer: Any = None
        self.schema: Any = None

    def __enter__(self) -> _JoinedTables:
        return self

    def append(self, path: Path) -> None:
        """Append every row group of ``path``, then delete it."""
        import pyarrow.parquet as pq

        source = pq.ParquetFile(path)
        if self.writer is None:
            self.schema = source.schema_arrow
            self.writer = parquet_writer(self.out, self.schema, [schema.RACK_ID, schema.SPLIT])
        for group in range(source.num_row_groups):
            self.writer.write_table(source.read_row_group(group).cast(self.schema))
        path.unlink()

    def __exit__(self, *_: object) -> None:
        if self.writer is not None:
            self.writer.close()


def choose_thresholds(
    validation: dict[str, list[events.ModuleTrack]], grid_size: int, alarm: AlarmParams
) -> tuple[dict[str, float], dict[str, dict[str, object]]]:
    """Each score's threshold (the rule's too), chosen on validation tracks under the alarm budget.

    The candidates are quantiles of the upper tail of the validation scores and the thresholds
    where a track's verdict changes (:func:`events.critical_thresholds`). One score after
    another: on threads (two scores' levels at once) evaluate's peak grew by 0.27 GB and the
    search took as long.

    Args:
        validation: Score column -> the validation split's module tracks.
        grid_size: How many quantile candidates (``evaluate.threshold_grid_size``).
        alarm: The ``alarm`` section.

    Returns:
        Score column -> threshold, and score column -> its validation event metrics at that
        threshold.
    """
    thresholds, on_validation = {}, {}
    for column in JUDGED:
        tracks = validation[ROW_SCORE.get(column, column)]
        candidates = np.concatenate(
            [
                evaluate.threshold_candidates(np.concatenate([t.score for t in tracks]), grid_size),
                events.critical_thresholds(tracks, alarm),
            ]
        )
        thresholds[column], on_validation[column] = events.choose_threshold(
            tracks, candidates, alarm
        )
        if column in ROW_SCORE:  # the alarms at that threshold, physics alarm included
            on_validation[column] = events.event_metrics(
                validation[column], thresholds[column], alarm
            )
        # Each score's levels are done with once its threshold is chosen (a float64 per second
        # of every validation module: not kept for the next score's search).
        for track in [*tracks, *validation.get(column, [])]:
            track.forget_levels()
    return thresholds, on_validation


def results_on_test(
    scored: HeldOutScores, thresholds: dict[str, float], alarm: AlarmParams, threads: int = 1
) -> dict[str, dict[str, object]]:
    """Row and event metrics of every score on the test split at its threshold.

    Each score's rows are sorted once: for its metrics and for its PR curve (``scored.curves``).
    ``threads`` scores at once, on threads (the same results with 1).
    """
    labels = scored.test_labels()

    def judge(column: str) -> tuple[dict[str, object], Any]:
        scores = scored.test_scores(column)
        ranking = evaluate.ranked(labels, scores)
        metrics = evaluate.split_metrics(
            labels, scores, scored.tracks["test"][column], thresholds[column], alarm, ranking
        )
        return metrics, evaluate.pr_curve(labels, scores, ranking=ranking)

    results = {}
    for column, (metrics, curve) in zip(
        thresholds, Runner(threads).imap(judge, list(thresholds)), strict=True
    ):
        results[column], scored.curves[column] = metrics, curve
    return results


def hazard_metrics(
    results: dict[str, dict[str, object]],
    on_validation: dict[str, dict[str, object]],
    delta_t: dict[str, dict],
    alarm: AlarmParams,
) -> dict[str, object]:
    """``metrics/hazard.json``: the model's test metrics, the baselines' beside, the ΔT figures.

    Args:
        results: :func:`results_on_test`.
        on_validation: The validation metrics :func:`choose_thresholds` returned.
        delta_t: :func:`evaluate.delta_t_metrics` of the test rows.
        alarm: The ``alarm`` section.
    """
    model = results[events.PROBABILITY]
    metrics: dict[str, object] = {key: model[key] for key in SUMMARY_KEYS}
    metrics["lead_times_min"] = model["lead_times_min"]
    metrics["baselines"] = {"rule": {key: results[RULE][key] for key in SUMMARY_KEYS}}
    for column, name in LEARNED.items():
        if name is not None:
            metrics["baselines"][name] = {key: results[column][key] for key in SUMMARY_KEYS}
    metrics["validation"] = {
        key: on_validation[events.PROBABILITY][key]
        for key in SUMMARY_KEYS
        if key in on_validation[events.PROBABILITY]
    }
    metrics["min_lead_min"] = alarm.min_lead_s / 60.0
    metrics["false_alarm_budget_per_module_day"] = alarm.false_alarm_budget_per_module_day
    # Judged where a module heats towards runaway (the hazard windows of the test modules), as
    # the derating advice needs. Elsewhere the 30 s change is mostly sensor noise, which no
    # forecast removes; those figures are in metrics/delta_t.json beside it.
    heating = delta_t["hazard"]
    metrics["delta_t_rmse_c"] = heating["model"]["rmse_c"]
    metrics["delta_t_persistence_rmse_c"] = heating["persistence"]["rmse_c"]
    metrics["delta_t_skill"] = heating["model"]["skill_vs_persistence"]
    metrics["delta_t_skill_all_rows"] = delta_t["all"]["model"]["skill_vs_persistence"]
    return metrics


def calibrate(scored: HeldOutScores) -> tuple[dict[str, list[float]] | None, dict[str, object]]:
    """The probability's calibration, fitted on validation rows and judged on test rows.

    Returns:
        The curve (:func:`batteryops.hazard.calibration.fit`) and ``metrics/hazard.json``'s
        ``calibration`` section (Brier score before and after, reliability tables).
    """
    labels, probability = scored.validation_labels_and_probability()
    curve = calibration.fit(probability, labels)
    judged = calibration.judged_on_test(
        curve, scored.test_labels(), scored.test_scores(events.PROBABILITY)
    )
    return curve, judged


def operating_point(
    threshold: float,
    alarm: AlarmParams,
    derating: DeratingParams,
    top_features: int,
    model_info: dict[str, object],
    calibration_curve: dict[str, list[float]] | None = None,
) -> dict[str, object]:
    """What scoring with the model needs beside it: threshold, alarm rule, derating, features.

    Args:
        threshold: The model's threshold chosen on validation.
        alarm: The ``alarm`` section.
        derating: The ``derating`` section.
        top_features: How many features explain an alarm (``explain.top_features``).
        model_info: What the ``train`` stage wrote about the model (``features``, ``run_id``).
        calibration_curve: :func:`batteryops.hazard.calibration.fit` on validation rows, which
            derating's fixed probability cut reads.
    """
    return {
        "threshold": float(threshold),
        "calibration": calibration_curve,
        "alarm": alarm.model_dump(),
        "derating": derating.model_dump(),
        "top_features": top_features,
        "features": model_info["features"],
        "run_id": model_info["run_id"],
    }


def pr_curves(scored: HeldOutScores) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Plot name -> (recall, precision) of every score on the trainable test rows."""
    labels = scored.test_labels()
    return {
        name: scored.curves.get(column) or evaluate.pr_curve(labels, scored.test_scores(column))
        for column, name in PLOT_NAMES.items()
    }


def pr_curve_table(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """The curves of :func:`pr_curves` as DVC plot data: ``model``, ``recall``, ``precision``."""
    rows = [
        pd.DataFrame({"model": name, "recall": recall, "precision": precision})
        for name, (recall, precision) in curves.items()
    ]
    return pd.concat(rows)


def lead_times(results: dict[str, dict[str, object]]) -> dict[str, dict[str, float]]:
    """Plot name -> runaway module -> lead time (minutes), of the runaways each score detected."""
    return {PLOT_NAMES[c]: dict(result["lead_times_by_module"]) for c, result in results.items()}


def lead_time_table(leads: dict[str, dict[str, float]]) -> pd.DataFrame:
    """The lead times of :func:`lead_times` as DVC plot data: ``model``, ``event``, minutes.

    The event is the runaway module's id, so one event is the same row label for every model.
    """
    rows = [
        {"model": name, "event": module_id, "lead_time_min": lead}
        for name, by_module in leads.items()
        for module_id, lead in sorted(by_module.items())
    ]
    return pd.DataFrame(rows, columns=["model", "event", "lead_time_min"])


def write_plot_data(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    leads: dict[str, dict[str, float]],
    plot_data: str | Path,
) -> None:
    """DVC plot data, one file per model (one series each in ``dvc plots show``).

    ``plot_data/pr_curve/<model>.csv`` (recall, precision) and
    ``plot_data/lead_times/<model>.csv`` (event = runaway module, lead_time_min); ``dvc.yaml``'s
    top-level ``plots`` names every file. The folder is versioned with the metrics.
    """
    with atomic_dir(plot_data) as tmp:
        pr_table, lead_table = pr_curve_table(curves), lead_time_table(leads)
        for kind, table in (("pr_curve", pr_table), ("lead_times", lead_table)):
            (tmp / kind).mkdir()
            for name in PLOT_NAMES.values():
                rows = table[table["model"] == name].drop(columns="model")
                rows.to_csv(tmp / kind / f"{name}.csv", index=False)


def write_plots(
    scored: HeldOutScores,
    results: dict[str, dict[str, object]],
    model: HazardModel,
    min_lead_min: float,
    plots_dir: str | Path,
    shap_summary: str | Path,
    calibration_section: dict[str, object] | None = None,
    plot_data: str | Path | None = None,
) -> None:
    """Write the PR curves, the lead times (data and PNG), the SHAP summary and reliability.

    Args:
        scored: :func:`score_held_out`.
        results: :func:`results_on_test`.
        model: The trained model (for the SHAP contributions).
        min_lead_min: The minimum lead the lead-time histogram marks.
        plots_dir: Folder of the PNGs.
        shap_summary: Where the SHAP summary PNG goes.
        calibration_section: :func:`calibrate`'s judgement, drawn as ``reliability.png``.
        plot_data: Folder of the DVC plot data (:func:`write_plot_data`); none when None.
    """
    plots_dir = Path(plots_dir)
    if calibration_section is not None:
        with atomic_path(plots_dir / "reliability.png") as tmp:
            plots.reliability_png(
                {
                    "raw": calibration_section["reliability_raw"],
                    "calibrated": calibration_section["reliability"],
                },
                tmp,
            )
    curves = pr_curves(scored)
    leads = lead_times(results)
    if plot_data is not None:
        write_plot_data(curves, leads, plot_data)
    with atomic_path(plots_dir / "pr_curve.png") as tmp:
        plots.pr_curve_png(curves, tmp)
    with atomic_path(plots_dir / "lead_time_hist.png") as tmp:
        plots.lead_time_png(
            {name: list(by.values()) for name, by in leads.items()}, min_lead_min, tmp
        )
    sample = scored.shap_sample()
    if not sample.empty:
        contributions = model.contributions(sample)[:, :-1]
        with atomic_path(shap_summary) as tmp:
            plots.shap_summary_png(
                contributions, sample[model.features].to_numpy(dtype=float), model.features, tmp
            )


def run_metrics(metrics: dict[str, object]) -> dict[str, float]:
    """The finite numbers of ``metrics/hazard.json`` as MLflow metrics (``test_`` prefixed)."""
    return {
        f"test_{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
    }


def log_to_run(
    tracking_params: TrackingParams,
    run_id: str,
    metrics: dict[str, object],
    delta_t: dict[str, object],
    operating: dict[str, object],
    plots_dir: str | Path,
) -> None:
    """Log the held-out metrics, the plots and the operating point to the training run.

    Args:
        tracking_params: The ``tracking`` section.
        run_id: The training run.
        metrics: ``metrics/hazard.json``.
        delta_t: ``metrics/delta_t.json`` (without its horizon).
        operating: :func:`operating_point`.
        plots_dir: Every PNG in it is logged under ``plots``.
    """
    import mlflow

    from batteryops.hazard.pyfunc import OPERATING_POINT_ARTIFACT

    tracking.configure(tracking_params)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(run_metrics(metrics))
        mlflow.log_dict(metrics, "metrics/hazard.json")
        mlflow.log_dict(delta_t, "metrics/delta_t.json")
        mlflow.log_dict(operating, OPERATING_POINT_ARTIFACT)
        for png in Path(plots_dir).glob("*.png"):
            mlflow.log_artifact(str(png), "plots")
