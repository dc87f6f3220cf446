"""The 30 s temperature-change forecast: its heat-balance base and the learned correction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.hazard import features, labels, models
from batteryops.hazard.model import HazardModel
from tests.batteryops.conftest import Trained

HORIZON_S = 30


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def test_base_is_the_heat_balance_rate_then_the_trend_then_zero() -> None:
    frame = pd.DataFrame(
        {
            models.HEAT_BALANCE_FEATURE: [2.0, np.nan, np.nan],
            models.TREND_FEATURE: [10.0, 4.0, np.nan],
        }
    )
    np.testing.assert_allclose(models.base_forecast(frame, HORIZON_S), [1.0, 2.0, 0.0])
    # Rows featurized before the heat balance existed: the trend.
    older = frame.drop(columns=models.HEAT_BALANCE_FEATURE)
    np.testing.assert_allclose(models.base_forecast(older, HORIZON_S), [5.0, 2.0, 0.0])


def _overcharge_windows(trained: Trained) -> pd.DataFrame:
    """Labelled, featurized hazard-window rows of the small fleet's overcharged modules."""
    truth = trained.truth
    chosen = truth.loc[truth["fault_type"] == "overcharge", schema.MODULE_ID]
    assert len(chosen) >= 1
    rows = []
    for frame in trained.frames.values():
        mine = frame[frame[schema.MODULE_ID].isin(chosen)]
        if mine.empty:
            continue
        labelled = labels.label_rack(frame, truth, trained.params.label)
        done = features.featurize_rack(labelled, trained.params.featurize)
        keep = done[schema.MODULE_ID].isin(chosen) & (done[schema.HAZARD] > 0)
        rows.append(done[keep & done[schema.DELTA_T_30S].notna()])
    return pd.concat(rows, ignore_index=True)


def test_heat_balance_base_follows_an_overcharged_module_better_than_the_trend(
    trained: Trained,
) -> None:
    """Past full charge the temperature rate rises and falls with the charger's current; the
    heat balance sees that, the last minute's trend does not."""
    rows = _overcharge_windows(trained)
    truth = rows[schema.DELTA_T_30S].to_numpy(dtype=float)
    base = _rmse(truth, models.base_forecast(rows, HORIZON_S))
    trend = _rmse(truth, models.trend_forecast(rows, HORIZON_S))
    persistence = _rmse(truth, 0.0)
    print(f"RMSE in hazard windows: base {base:.3f}, trend {trend:.3f}, none {persistence:.3f} C")
    assert base < 0.95 * trend, (base, trend)
    assert persistence > 2.0 * base, (persistence, base)


def test_model_forecast_is_base_plus_correction_and_old_models_keep_the_trend(
    trained: Trained,
) -> None:
    model = trained.scorer.model
    assert model.config()["delta_t_base"] == "heat_balance"
    rows = _overcharge_windows(trained)
    prepared = model.prepare(rows)
    learned = model._predict(model.delta_t, prepared)
    np.testing.assert_allclose(
        model.delta_t_forecast(prepared),
        learned + models.base_forecast(prepared, HORIZON_S),
        rtol=1e-5,
        atol=1e-5,
    )
    # A model registered before the heat balance has no delta_t_base in its config: it keeps
    # correcting the trend it was trained on.
    config = {k: v for k, v in model.config().items() if k != "delta_t_base"}
    older = _from_config(model, config)
    assert older.delta_t_base == "trend"
    np.testing.assert_allclose(
        older.delta_t_forecast(prepared),
        learned + models.trend_forecast(prepared, HORIZON_S),
        rtol=1e-5,
        atol=1e-5,
    )


def _from_config(model: HazardModel, config: dict) -> HazardModel:
    """The model rebuilt through :meth:`HazardModel.load` from ``config``."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / name for name in ("h.ubj", "d.ubj", "b.joblib")]
        model.save(*paths)
        return HazardModel.load(*paths, config)


def test_featurized_rows_without_the_base_still_score_and_say_so(trained: Trained, caplog) -> None:
    """Rows holding only the model's inputs (``split.json``'s features) are scored; the 30 s
    forecast then corrects the trend and a warning says so."""
    model = trained.scorer.model
    rows = _overcharge_windows(trained)
    inputs = rows[model.features]
    prepared = model.prepare(inputs)
    assert len(prepared) == len(rows)
    assert np.isfinite(model.hazard_probability(prepared)).all()
    with caplog.at_level("WARNING"):
        forecast = model.delta_t_forecast(prepared)
    assert "heat_balance_slope_per_min" in caplog.text
    learned = model._predict(model.delta_t, prepared)
    np.testing.assert_allclose(
        forecast, learned + models.trend_forecast(prepared, HORIZON_S), rtol=1e-5, atol=1e-5
    )
