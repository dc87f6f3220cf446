"""Scoring new telemetry with a registered model: probability, alarm, derating, explanation.

The same code serves ``batteryops score`` and the live service (:mod:`batteryops.serve.engine`):
features from :mod:`batteryops.hazard.features` through
:class:`batteryops.hazard.model.HazardModel`, the persistent alarm of
:mod:`batteryops.hazard.events` at the operating point ``evaluate`` chose (the alarm section
registered with the model, episode merge gap included), the derating policy of
:mod:`batteryops.hazard.derating`, and TreeSHAP contributions of every alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema, timegrid
from batteryops.core.config import AlarmParams, DeratingParams
from batteryops.hazard import calibration, derating, events
from batteryops.hazard.model import DELTA_T_FORECAST, PROBABILITY, TOP_FEATURES, HazardModel

ALARM = "alarm"
CURRENT_LIMIT = "recommended_current_limit_a"
# The limit of the module's series string (its rack): the most restrictive module decides.
STRING_LIMIT = "rack_current_limit_a"
EXPLAIN_EVERY_S = 60  # TreeSHAP refreshed once a minute during an alarm
OUTPUT_COLUMNS = [
    schema.MODULE_ID,
    schema.TIMESTAMP,
    schema.RACK_ID,
    PROBABILITY,
    ALARM,
    CURRENT_LIMIT,
    STRING_LIMIT,
    DELTA_T_FORECAST,
    "temp_max_c",
    TOP_FEATURES,
]


@dataclass
class Scorer:
    """A hazard model and its operating point."""

    model: HazardModel
    threshold: float
    alarm: AlarmParams
    derating: DeratingParams
    top_features: int
    calibration_curve: dict[str, list[float]] | None = None  # fitted on validation (evaluate)

    def calibrated(self, probability: np.ndarray) -> np.ndarray:
        """The probability as calibrated on validation: what a fixed probability cut reads."""
        return calibration.apply(self.calibration_curve, probability)

    @classmethod
    def from_operating_point(cls, model: HazardModel, operating: dict[str, Any]) -> Scorer:
        """Join a model with the operating point ``evaluate`` wrote for it."""
        return cls(
            model=model,
            threshold=float(operating["threshold"]),
            alarm=AlarmParams.model_validate(operating["alarm"]),
            derating=DeratingParams.model_validate(operating["derating"]),
            calibration_curve=operating.get("calibration"),
            top_features=int(operating["top_features"]),
        )

    def score(self, telemetry: pd.DataFrame) -> pd.DataFrame:
        """Score canonical telemetry: one output row per module and second of input.

        Args:
            telemetry: Canonical telemetry, any racks and order (or rows already featurized).

        Returns:
            :data:`OUTPUT_COLUMNS`, sorted by rack, module and time. ``top_features`` names the
            features that pushed the hazard up most (TreeSHAP) on alarm seconds, refreshed each
            minute of an alarm; it is empty elsewhere.
        """
        frame = self.model.prepare(telemetry)
        probability = self.model.hazard_probability(frame)
        forecast = self.model.delta_t_forecast(frame)
        alarm = self._alarm(frame, probability)
        limit = derating.recommended_current_limit(
            frame["temp_max_c"].to_numpy(dtype=float),
            forecast,
            self.calibrated(probability),
            alarm,
            self.derating,
        )
        top = self._explain(frame, alarm)
        keys = frame[[schema.MODULE_ID, schema.TIMESTAMP, schema.RACK_ID]].reset_index(drop=True)
        return keys.assign(
            **{
                PROBABILITY: probability.astype(np.float32),
                ALARM: alarm,
                CURRENT_LIMIT: limit.astype(np.float32),
                STRING_LIMIT: derating.string_limits(
                    keys[schema.RACK_ID].to_numpy(), keys[schema.TIMESTAMP].to_numpy(), limit
                ).astype(np.float32),
                DELTA_T_FORECAST: forecast.astype(np.float32),
                "temp_max_c": frame["temp_max_c"].to_numpy(dtype=np.float32),
                TOP_FEATURES: top,
            }
        )

    def _explain(self, frame: pd.DataFrame, alarm: np.ndarray) -> np.ndarray:
        """Top TreeSHAP features on alarm seconds.

        Computed at each alarm's first second and every ``EXPLAIN_EVERY_S`` seconds of it, and
        carried over the seconds between: an alarm runs for many minutes, and TreeSHAP on each
        of its seconds would cost more than the scoring.
        """
        top = np.full(len(frame), "", dtype=object)
        if not alarm.any():
            return top
        rows = np.flatnonzero(alarm)
        seconds = timegrid.epoch_seconds(frame[schema.TIMESTAMP].iloc[rows])
        codes = pd.factorize(frame[schema.MODULE_ID].iloc[rows])[0]
        # A new alarm starts where the module changes or the previous alarm second is not
        # the second before.
        starts = np.concatenate([[True], (np.diff(codes) != 0) | (np.diff(seconds) > 1)])
        onset = np.maximum.accumulate(np.where(starts, np.arange(len(rows)), 0))
        since = seconds - seconds[onset]
        chosen = starts | (np.mod(since, EXPLAIN_EVERY_S) == 0)
        explained = rows[chosen]
        text = np.asarray(
            self.model.top_features(frame.iloc[explained], self.top_features), dtype=object
        )
        # Each alarm second takes the explanation of the last explained second of its alarm.
        last = np.maximum.accumulate(np.where(chosen, np.arange(len(rows)), 0))
        index_of = np.cumsum(chosen) - 1
        top[rows] = text[index_of[last]]
        return top

    def _alarm(self, frame: pd.DataFrame, probability: np.ndarray) -> np.ndarray:
        """The persistent alarm (k of the last n seconds over the threshold) per row.

        Rows are sorted by module then time (:meth:`HazardModel.prepare`), as the live service
        keeps them: both apply :func:`batteryops.hazard.events.persistent_level_rows`.
        """
        seconds = np.floor(timegrid.epoch_seconds(frame[schema.TIMESTAMP])).astype(np.int64)
        events.check_logger_periods(
            seconds, frame[schema.MODULE_ID].to_numpy(), self.alarm.max_logger_period_s
        )
        modules = pd.factorize(frame[schema.MODULE_ID])[0]
        level = events.persistent_level_rows(
            seconds, probability, modules, self.alarm.persistence_k, self.alarm.persistence_n
        )
        return level >= self.threshold


def load_scorer(uri: str) -> Scorer:
    """The model at an MLflow URI with the operating point logged beside it.

    URIs: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``runs:/RUN/model``. MLflow
    must already point at the project's store (:func:`batteryops.mlops.tracking.configure`).
    """
    from batteryops.hazard import pyfunc

    model = pyfunc.load_model(uri)
    return Scorer.from_operating_point(model, pyfunc.operating_point(uri))


def alarm_summary(scored: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per alarmed module: first alarm second, peak probability, top features then."""
    summary = []
    for module_id, rows in scored[scored[ALARM]].groupby(schema.MODULE_ID, sort=True):
        first = rows.iloc[0]
        summary.append(
            {
                schema.MODULE_ID: module_id,
                "first_alarm": first[schema.TIMESTAMP].isoformat(),
                "alarm_seconds": int(len(rows)),
                "peak_probability": float(rows[PROBABILITY].max()),
                TOP_FEATURES: first[TOP_FEATURES],
            }
        )
    return summary
