"""The hazard model as trained, evaluated, registered and served: one object, one feature code.

A :class:`HazardModel` holds the XGBoost hazard classifier, the XGBoost regressor of the 30 s
temperature change, the baselines (whose IsolationForest score may be a classifier input), the
feature list and the ``featurize`` parameters it was trained with. Given canonical telemetry it
computes the features with :func:`batteryops.hazard.features.featurize_rack` (the code of the
``featurize`` stage), so offline evaluation and online scoring cannot drift apart. The MLflow
flavour (:mod:`batteryops.hazard.pyfunc`) wraps this object.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import FeaturizeParams, PathsParams, TrainParams
from batteryops.core.io import read_json
from batteryops.hazard import features, observer
from batteryops.hazard.models import (
    ANOMALY_FEATURE,
    HEAT_BALANCE_FEATURE,
    PREDICT_CHUNK_ROWS,
    Baselines,
    base_forecast,
    trend_forecast,
)

log = logging.getLogger(__name__)
PROBABILITY = "hazard_probability"
DELTA_T_FORECAST = "delta_t_30s_forecast_c"
TOP_FEATURES = "top_features"
UNEXPLAINED_HEAT, _, SUSTAINED_HEAT, SPREAD_EXCESS, EVIDENCE_AGE = observer.NAMES[:5]
# The persistent channel's measure (observer.NAMES[5]; :func:`persistent_heat`).
PERSISTENT_HEAT = observer.NAMES[5]
# The hot-spot channel's measure (observer.NAMES[6]): how fast the hottest sensor outruns the mean.
HOT_SPOT_RISE = observer.NAMES[6]
HELD_CELL_V = features.HELD_CELL_V
# The featurized column each channel of the physics alarm compares with its threshold: fast,
# sustained, voltage, overvoltage, persistent, hot spot (stored; classifier inputs only if
# featurize says).
PHYSICS_COLUMNS = [
    UNEXPLAINED_HEAT,
    SUSTAINED_HEAT,
    SPREAD_EXCESS,
    HELD_CELL_V,
    PERSISTENT_HEAT,
    HOT_SPOT_RISE,
]


def persistent_heat(frame: pd.DataFrame) -> np.ndarray:
    """Heat that persists on the hottest sensor, where the sensors' mean bears it out (C/min).

    The hottest sensor's unexplained heat over ten minutes less 30 % of the cooling its model
    expects (observer.NAMES[5], given once the module's models have seen 4 h of data, as the
    sustained heat), where the sustained heat (the sensors' mean's, less the same benign
    cooling loss) is above zero; NaN elsewhere. A drifting sensor reads as much heat as a
    source beside it: its model expects cooling in proportion to how far the reading stands
    above its coolant, and none comes (an unseen fleet of our own simulator: a sensor drifting
    6 C/h read 0.6-1.0 C/min for an hour). The other sensors do not share the drift, and the
    sensors' mean's model reads its share as less than a benign cooling loss (sustained heat
    -0.2 to -0.5 C/min there); heat from a source spreads through the module. A calibration
    offset (every sensor 3 K high after a swap) is shared, but reads like the benign loss of
    cooling it resembles: the share taken off.
    """
    held = frame[PERSISTENT_HEAT].to_numpy(dtype=np.float64)
    shared = np.nan_to_num(frame[SUSTAINED_HEAT].to_numpy(dtype=np.float64), nan=-np.inf) > 0
    return np.where(shared, held, np.nan)


def unexplained_heat_alarm(heat: np.ndarray, limit: float | None) -> np.ndarray:
    """Rows whose unexplained heat (C/min) reaches ``limit`` (none if None; NaN never)."""
    if limit is None:
        return np.zeros(len(heat), dtype=bool)
    return np.nan_to_num(heat.astype(np.float32), nan=-np.inf) >= limit


def physics_alarm_rows(
    heat: np.ndarray,
    sustained: np.ndarray | None,
    limit: float | None,
    sustained_limit: float | None,
    persistent: np.ndarray | None = None,
    persistent_limit: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The physics alarm's three heat channels, each a mask of rows.

    Rows whose unexplained heat (hottest sensor, two-minute mean) reaches ``limit``, rows whose
    sustained heat (the sensors' mean, ten-minute mean) reaches ``sustained_limit``, and rows
    whose persistent heat (hottest sensor, ten-minute mean, :func:`persistent_heat`) reaches
    ``persistent_limit``. A channel whose limit is None (or without its measure) never fires.
    """
    none = np.zeros(len(heat), dtype=bool)
    fast = unexplained_heat_alarm(heat, limit)
    steady = none if sustained is None else unexplained_heat_alarm(sustained, sustained_limit)
    held = none if persistent is None else unexplained_heat_alarm(persistent, persistent_limit)
    return fast, steady, held


def physics_alarm_configured(frame: pd.DataFrame, train: TrainParams) -> np.ndarray:
    """Rows where any channel fires at the ``train`` section's thresholds (what a model gets).

    For featurized rows that carry every column of :data:`PHYSICS_COLUMNS` (the benchmarks'); a
    model judges its own rows with :meth:`HazardModel.physics_alarm`, which also copes with
    missing columns.
    """
    fast, sustained, persistent = physics_alarm_rows(
        frame[UNEXPLAINED_HEAT].to_numpy(),
        frame[SUSTAINED_HEAT].to_numpy(),
        train.unexplained_heat_alarm_c_per_min,
        train.unexplained_heat_sustained_alarm_c_per_min,
        persistent_heat(frame),
        train.unexplained_heat_persistent_alarm_c_per_min,
    )
    voltage = unexplained_heat_alarm(frame[SPREAD_EXCESS].to_numpy(), train.spread_excess_alarm_v)
    over = unexplained_heat_alarm(frame[HELD_CELL_V].to_numpy(), train.cell_overvoltage_alarm_v)
    hot_spot = frame[HOT_SPOT_RISE].to_numpy()
    hot = unexplained_heat_alarm(hot_spot, train.hot_spot_rise_alarm_c_per_min)
    return fast | sustained | persistent | voltage | over | hot


def evidence_gate(
    frame: pd.DataFrame, probability: np.ndarray, window_s: float | None
) -> np.ndarray:
    """The classifier's ``probability``, 0 where the module showed no evidence in ``window_s``.

    Evidence is the observer's (:data:`EVIDENCE_AGE`: seconds since it last saw unexplained
    heat, sustained heat or a spread excess over its evidence levels). Ungated if ``window_s``
    is None, or on rows featurized without the column (a warning says so: ungated alarms more,
    which is the safe side).
    """
    if window_s is None:
        return probability
    if EVIDENCE_AGE not in frame.columns:
        log.warning("featurized rows without %s: the classifier alarms ungated", EVIDENCE_AGE)
        return probability
    age = np.nan_to_num(frame[EVIDENCE_AGE].to_numpy(dtype=np.float64), nan=np.inf)
    return np.where(age <= window_s, probability, 0.0).astype(np.float32)


def _column_alarm(frame: pd.DataFrame, column: str, limit: float | None, what: str) -> np.ndarray:
    """Rows whose ``column`` reaches ``limit``: a physics alarm channel on one column.

    None of them without a limit (a model without the channel), or on rows featurized without
    the column (a warning says so, once per call).
    """
    if limit is None:
        return np.zeros(len(frame), dtype=bool)
    if column not in frame.columns:
        log.warning("featurized rows without %s: no %s channel on them", column, what)
        return np.zeros(len(frame), dtype=bool)
    return unexplained_heat_alarm(frame[column].to_numpy(), limit)


@dataclass
class HazardModel:
    """Classifier, regressor and baselines over one feature list."""

    hazard: Any  # xgboost.Booster
    delta_t: Any  # xgboost.Booster
    baselines: Baselines
    features: list[str]  # inputs of both boosters, in order
    featurize: FeaturizeParams
    delta_t_horizon_s: int  # the forecast horizon (the delta_t booster learns base residuals)
    # What the delta_t booster corrects: "heat_balance" (models.base_forecast), or "trend"
    # (models.trend_forecast, models registered before the heat balance).
    delta_t_base: str = "heat_balance"
    # The fewest modules a training rack had (0: not recorded). The features are rack-relative
    # (a module against its rack's median): a rack sent with fewer modules is out of context.
    rack_modules: int = 0
    # The physics alarm (issue 18): rows whose thermal observer finds at least this much heat
    # (C/min) that the module's own load and cooling do not explain score 1, whatever the
    # classifier says. It holds for fault families the classifier never met. None: classifier only.
    unexplained_heat_alarm_c_per_min: float | None = None
    # Its sustained channel: the unexplained heat of the sensors' mean over ten minutes
    # (observer.NAMES[2]) at or above this (C/min). Cells that heat little per watt show a fault
    # as weak heat that persists, over the whole module. None: off (models registered before it).
    unexplained_heat_sustained_alarm_c_per_min: float | None = None
    # Its persistent channel: the hottest sensor's unexplained heat over ten minutes
    # (:func:`persistent_heat`) at or above this (C/min): an outside source heating cells far
    # from every thermistor warms the nearest one steadily, under the fast channel's level and
    # diluted in the sensors' mean. None: off (models registered before it).
    unexplained_heat_persistent_alarm_c_per_min: float | None = None
    # Its voltage channel: the cell-voltage spread's excess over the module's own at the same
    # charge and current (observer.NAMES[3], spread_baseline) at or above this (V): a cell an
    # internal short drains. None: off (models registered before it).
    spread_excess_alarm_v: float | None = None
    # Its overvoltage channel: the highest cell voltage the module held for 80 s
    # (features.HELD_CELL_V) at or above this (V): a cell charged past full, which its charger
    # would have stopped. None: off (models registered before it).
    cell_overvoltage_alarm_v: float | None = None
    # Its hot-spot channel: how fast the hottest sensor outruns the sensors' mean (observer.NAMES
    # [6], no model) at or above this (C/min): heat inside one cell warms the nearest sensor
    # first, while load, coolant and ambient move every sensor alike; no model identified at the
    # currents a module has met is extrapolated. None: off (models registered before it).
    hot_spot_rise_alarm_c_per_min: float | None = None
    # The classifier alarms only on rows whose module showed physical evidence of a fault
    # (observer.NAMES[4]: unexplained heat, sustained heat or a spread excess over levels well
    # under the alarm's) within this many seconds; elsewhere its probability counts as 0. A
    # module that is only hotter than its rack, or whose cells sit further apart than the
    # training fleet's, is no fault. None: ungated (models registered before it).
    classifier_evidence_window_s: float | None = None

    @property
    def uses_anomaly_feature(self) -> bool:
        """Whether the IsolationForest score is a classifier input."""
        return ANOMALY_FEATURE in self.features

    @property
    def featurized_columns(self) -> list[str]:
        """The featurized columns a prepared row needs.

        The inputs (bar the anomaly score, computed here), the ΔT forecast's base and the
        columns of the physics alarm's channels that the model has thresholds for.
        """
        columns = [name for name in self.features if name != ANOMALY_FEATURE]
        columns += [HEAT_BALANCE_FEATURE] if self.delta_t_base == "heat_balance" else []
        if self._alarm_limits != (None, None, None):
            columns += [UNEXPLAINED_HEAT]
        if self.unexplained_heat_sustained_alarm_c_per_min is not None:
            columns += [SUSTAINED_HEAT]
        if self.unexplained_heat_persistent_alarm_c_per_min is not None:
            columns += [PERSISTENT_HEAT, SUSTAINED_HEAT]
        if self.spread_excess_alarm_v is not None:
            columns += [SPREAD_EXCESS]
        if self.cell_overvoltage_alarm_v is not None:
            columns += [HELD_CELL_V]
        if self.hot_spot_rise_alarm_c_per_min is not None:
            columns += [HOT_SPOT_RISE]
        if self.classifier_evidence_window_s is not None:
            columns += [EVIDENCE_AGE]
        return list(dict.fromkeys(columns))

    def config(self) -> dict[str, Any]:
        """What, beside the fitted objects, is needed to rebuild the model."""
        return {
            "features": self.features,
            "featurize": self.featurize.model_dump(),
            "delta_t_horizon_s": self.delta_t_horizon_s,
            "delta_t_base": self.delta_t_base,
            "rack_modules": self.rack_modules,
            "unexplained_heat_alarm_c_per_min": self.unexplained_heat_alarm_c_per_min,
            "unexplained_heat_sustained_alarm_c_per_min": (
                self.unexplained_heat_sustained_alarm_c_per_min
            ),
            "unexplained_heat_persistent_alarm_c_per_min": (
                self.unexplained_heat_persistent_alarm_c_per_min
            ),
            "spread_excess_alarm_v": self.spread_excess_alarm_v,
            "cell_overvoltage_alarm_v": self.cell_overvoltage_alarm_v,
            "hot_spot_rise_alarm_c_per_min": self.hot_spot_rise_alarm_c_per_min,
            "classifier_evidence_window_s": self.classifier_evidence_window_s,
        }

    @property
    def _alarm_limits(self) -> tuple[float | None, float | None, float | None]:
        return (
            self.unexplained_heat_alarm_c_per_min,
            self.unexplained_heat_sustained_alarm_c_per_min,
            self.unexplained_heat_persistent_alarm_c_per_min,
        )

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows with every model input: featurized here (per rack) unless already featurized.

        Featurized rows need the model's inputs (``split.json``'s ``features``). Without the ΔT
        forecast's base column as well, the forecast corrects the trend instead
        (:meth:`delta_t_forecast` warns), unless the canonical columns are there to compute it.

        Args:
            frame: Canonical telemetry (any racks, any order) or featurized rows.

        Returns:
            Featurized rows sorted by rack, module and time (the input when it had the features).

        Raises:
            ValueError: If the frame has neither the features nor the canonical columns.
        """
        columns = set(frame.columns)
        if not set(self.featurized_columns) <= columns:
            missing = [c for c in schema.KEYS + schema.SIGNALS if c not in columns]
            inputs = {name for name in self.features if name != ANOMALY_FEATURE}
            if missing and not inputs <= columns:
                raise ValueError(
                    f"telemetry lacks canonical columns {missing[:6]} (and the model's features)"
                )
            if not missing:
                racks = [
                    features.featurize_rack(part, self.featurize)
                    for _, part in frame.groupby(schema.RACK_ID, sort=True, observed=True)
                ]
                frame = pd.concat(racks, ignore_index=True) if racks else frame.iloc[:0]
        if self.uses_anomaly_feature and ANOMALY_FEATURE not in frame.columns:
            frame = frame.assign(**{ANOMALY_FEATURE: self.baselines.anomaly_score(frame)})
        return frame

    def rack_context(self, telemetry: pd.DataFrame) -> pd.DataFrame:
        """Per rack of canonical telemetry: modules sent, and whether that is a whole rack.

        A rack counts as whole when it holds at least as many modules as the fewest a training
        rack had (:attr:`rack_modules`); with fewer, the rack-relative features compare a module
        with too few neighbours (a module sent alone is its own rack median) and its score is
        not what the model would give it in its rack.

        Returns:
            One row per rack: ``rack_id``, ``modules``, ``complete``.
        """
        counts = telemetry.groupby(schema.RACK_ID, observed=True)[schema.MODULE_ID].nunique()
        table = counts.rename("modules").reset_index()
        table["complete"] = table["modules"] >= self.rack_modules
        return table

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's inputs of prepared rows as one float32 array (features in order)."""
        return frame[self.features].to_numpy(np.float32)

    def _predict(self, booster: Any, rows: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Predict a bounded number of rows at a time, straight from float32 arrays."""
        values = self.matrix(rows) if isinstance(rows, pd.DataFrame) else rows
        out = np.empty(len(values), dtype=np.float32)
        for start in range(0, len(values), PREDICT_CHUNK_ROWS):
            chunk = values[start : start + PREDICT_CHUNK_ROWS]
            out[start : start + len(chunk)] = booster.inplace_predict(chunk)
        return out

    def hazard_probability(
        self, frame: pd.DataFrame, matrix: np.ndarray | None = None
    ) -> np.ndarray:
        """Hazard probability per prepared row (``matrix``: its :meth:`matrix`, if at hand).

        The classifier's probability (:meth:`classifier_probability`), raised to 1 on rows
        where the physics alarm fires (:meth:`physics_alarm`): what alarms are made of.
        """
        return self.with_physics(frame, self.classifier_probability(frame, matrix))

    def classifier_probability(
        self, frame: pd.DataFrame, matrix: np.ndarray | None = None
    ) -> np.ndarray:
        """The XGBoost classifier's probability alone (what ranks rows: PR AUC, calibration)."""
        return self._predict(self.hazard, frame if matrix is None else matrix)

    def with_physics(self, frame: pd.DataFrame, probability: np.ndarray) -> np.ndarray:
        """``probability`` gated by the evidence, raised to 1 where the physics alarm fires.

        The classifier's ``probability`` counts as 0 on rows without physical evidence of a
        fault within :attr:`classifier_evidence_window_s` (:func:`evidence_gate`).
        """
        gated = evidence_gate(frame, probability, self.classifier_evidence_window_s)
        return np.maximum(gated, self.physics_alarm(frame), dtype=np.float32)

    def physics_alarm(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows where any channel of the physics alarm fires.

        The three heat channels (:meth:`physics_channels`), the voltage one
        (:meth:`spread_excess_alarm`), the overvoltage one (:meth:`overvoltage_alarm`) and the
        hot-spot one (:meth:`hot_spot_alarm`).
        """
        fast, sustained, persistent = self.physics_channels(frame)
        heat = fast | sustained | persistent | self.hot_spot_alarm(frame)
        return heat | self.spread_excess_alarm(frame) | self.overvoltage_alarm(frame)

    def hot_spot_alarm(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows whose hot-spot rise reaches :attr:`hot_spot_rise_alarm_c_per_min`."""
        return _column_alarm(frame, HOT_SPOT_RISE, self.hot_spot_rise_alarm_c_per_min, "hot-spot")

    def spread_excess_alarm(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows whose cell-voltage spread excess reaches :attr:`spread_excess_alarm_v`."""
        return _column_alarm(frame, SPREAD_EXCESS, self.spread_excess_alarm_v, "voltage")

    def overvoltage_alarm(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows whose held cell voltage reaches :attr:`cell_overvoltage_alarm_v`."""
        return _column_alarm(frame, HELD_CELL_V, self.cell_overvoltage_alarm_v, "overvoltage")

    def physics_channels(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The physics alarm's three heat channels, each a mask of rows.

        Rows whose unexplained heat reaches :attr:`unexplained_heat_alarm_c_per_min`, rows
        whose sustained heat reaches :attr:`unexplained_heat_sustained_alarm_c_per_min` and
        rows whose persistent heat reaches :attr:`unexplained_heat_persistent_alarm_c_per_min`.
        Featurized rows without an observer column (only the classifier's inputs, or rows
        featurized before a channel existed) get no alarm from the channels that need it, and a
        warning says so, as :meth:`delta_t_forecast` does for its base.
        """
        none = np.zeros(len(frame), dtype=bool)
        if self._alarm_limits == (None, None, None):
            return none, none, none
        observed = (UNEXPLAINED_HEAT, SUSTAINED_HEAT, PERSISTENT_HEAT)
        needed = [c for c in self.featurized_columns if c in observed]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            log.warning(
                "featurized rows without %s: no physics alarm from it on them (give canonical "
                "telemetry to compute it)",
                ", ".join(missing),
            )
        if UNEXPLAINED_HEAT not in frame.columns:
            return none, none, none
        sustained = SUSTAINED_HEAT in needed and SUSTAINED_HEAT in frame.columns
        persistent = {PERSISTENT_HEAT, SUSTAINED_HEAT} <= set(needed) & set(frame.columns)
        return physics_alarm_rows(
            frame[UNEXPLAINED_HEAT].to_numpy(),
            frame[SUSTAINED_HEAT].to_numpy() if sustained else None,
            self.unexplained_heat_alarm_c_per_min,
            self.unexplained_heat_sustained_alarm_c_per_min,
            persistent_heat(frame) if persistent else None,
            self.unexplained_heat_persistent_alarm_c_per_min,
        )

    def delta_t_forecast(self, frame: pd.DataFrame, matrix: np.ndarray | None = None) -> np.ndarray:
        """Forecast change of the hottest sensor over the next 30 s (C) per prepared row."""
        learned = self._predict(self.delta_t, frame if matrix is None else matrix)
        if self.delta_t_base == "trend":  # registered before the heat balance
            return learned + trend_forecast(frame, self.delta_t_horizon_s)
        if isinstance(frame, pd.DataFrame) and HEAT_BALANCE_FEATURE not in frame.columns:
            log.warning(
                "featurized rows without %s: the 30 s forecast corrects the trend instead of "
                "the heat balance (less accurate; give canonical telemetry to compute it)",
                HEAT_BALANCE_FEATURE,
            )
        return learned + base_forecast(frame, self.delta_t_horizon_s)

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """TreeSHAP contributions to the hazard log-odds: one column per feature, then the bias."""
        import xgboost as xgb

        matrix = xgb.DMatrix(frame[self.features], feature_names=self.features)
        return self.hazard.predict(matrix, pred_contribs=True)

    def top_features(self, frame: pd.DataFrame, top: int) -> list[str]:
        """The ``top`` features pushing each row's hazard up, as ``name=value (+contribution)``."""
        if frame.empty:
            return []
        contributions = self.contributions(frame)[:, :-1]
        order = np.argsort(-contributions, axis=1)[:, :top]
        values = frame[self.features].to_numpy(dtype=float)
        rows = np.arange(len(frame))[:, None]
        picked, amounts = values[rows, order], contributions[rows, order]
        named = [
            [
                f"{self.features[j]}={v:.4g} ({c:+.2f})"
                for j, v, c in zip(order[i], picked[i], amounts[i], strict=True)
            ]
            for i in range(len(frame))
        ]
        fast, sustained, persistent = self.physics_channels(frame)
        voltage, over = self.spread_excess_alarm(frame), self.overvoltage_alarm(frame)
        hot = self.hot_spot_alarm(frame)
        channels = [(fast, UNEXPLAINED_HEAT), (sustained, SUSTAINED_HEAT)]
        channels += [(persistent, PERSISTENT_HEAT), (voltage, SPREAD_EXCESS), (over, HELD_CELL_V)]
        channels += [(hot, HOT_SPOT_RISE)]
        for i in np.flatnonzero(fast | sustained | persistent | voltage | over | hot):
            name = next(column for fired, column in channels if fired[i])
            value = float(frame[name].iat[i])
            named[i] = [f"{name}={value:.4g} (physics alarm)"] + named[i][:-1]
        return ["; ".join(names) for names in named]

    def save(self, hazard_path: str | Path, delta_t_path: str | Path, baselines_path: str | Path):
        """Write the fitted objects (XGBoost UBJ files and a joblib file of the baselines)."""
        import joblib

        self.hazard.save_model(str(hazard_path))
        self.delta_t.save_model(str(delta_t_path))
        joblib.dump(self.baselines, baselines_path)

    @classmethod
    def from_outputs(cls, paths: PathsParams, root: str | Path = ".") -> HazardModel:
        """The model the ``train`` stage wrote where ``paths`` (the params' section) put it.

        Raises:
            MissingInputError: If its configuration file is missing (run the pipeline first).
        """
        root = Path(root)
        return cls.load(
            root / paths.model,
            root / paths.delta_t_model,
            root / paths.baseline_models,
            read_json(root / paths.model_info)["model_config"],
        )

    @classmethod
    def load(
        cls,
        hazard_path: str | Path,
        delta_t_path: str | Path,
        baselines_path: str | Path,
        config: dict[str, Any] | str | Path,
    ) -> HazardModel:
        """Rebuild a model from the files :meth:`save` wrote and its :meth:`config`."""
        import joblib
        import xgboost as xgb

        if not isinstance(config, dict):
            config = json.loads(Path(config).read_text())
        return cls(
            hazard=xgb.Booster(model_file=str(hazard_path)),
            delta_t=xgb.Booster(model_file=str(delta_t_path)),
            baselines=joblib.load(baselines_path),
            features=list(config["features"]),
            featurize=FeaturizeParams.model_validate(config["featurize"]),
            delta_t_horizon_s=int(config["delta_t_horizon_s"]),
            delta_t_base=str(config.get("delta_t_base", "trend")),
            rack_modules=int(config.get("rack_modules", 0)),
            unexplained_heat_alarm_c_per_min=config.get("unexplained_heat_alarm_c_per_min"),
            unexplained_heat_sustained_alarm_c_per_min=config.get(
                "unexplained_heat_sustained_alarm_c_per_min"
            ),
            unexplained_heat_persistent_alarm_c_per_min=config.get(
                "unexplained_heat_persistent_alarm_c_per_min"
            ),
            spread_excess_alarm_v=config.get("spread_excess_alarm_v"),
            cell_overvoltage_alarm_v=config.get("cell_overvoltage_alarm_v"),
            hot_spot_rise_alarm_c_per_min=config.get("hot_spot_rise_alarm_c_per_min"),
            classifier_evidence_window_s=config.get("classifier_evidence_window_s"),
        )
