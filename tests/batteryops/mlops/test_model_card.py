"""batteryops.mlops.model_card: the health card's tables, including what no predictor answered."""

from __future__ import annotations

from batteryops.mlops.model_card import render_health


def _soh(rmse: float | None) -> dict:
    return {"rmse_pct": rmse, "mae_pct": rmse, "r2": 0.9, "within_3pct": 1.0, "within_5pct": 1.0}


def _rul(mape: float | None, n: int) -> dict:
    return {"rmse_cycles": 50.0 if mape is not None else None, "mape_pct": mape, "n": n}


def test_the_health_card_shows_the_second_family_and_a_dash_where_nothing_answered() -> None:
    soh = {
        "temperature_holdout": {
            "train_cells": 32,
            "test_cells": 16,
            "soh": {"xgboost": _soh(0.23), "coulomb_count": _soh(float("nan"))},
            "rul": {"xgboost": {"at_judged_cycle": _rul(9.6, 16)}},
            "rul_judged_at_cycle": 100,
        },
        "second_family": {
            "cells": 27,
            "soh": {"xgboost": _soh(0.58), "last_checkup": _soh(0.99)},
            "rul_at_judged_cycle": {"xgboost": _rul(90.6, 27), "fade_fit": _rul(None, 0)},
        },
    }
    decision = {"decision": "promoted", "gates_passed": 9, "gates_total": 9, "reasons": ["ok"]}
    card = render_health("battery-soh", "3", decision, soh, {"git commit": "abc"})
    assert "| coulomb_count | - | - | 0.9000 | 1.000 | 1.000 |" in card
    assert "## Second ageing family (27 cells" in card
    assert "| last_checkup | 0.990 |" in card
    assert "| fade_fit | - | - | 0 |" in card
    assert "| xgboost | 50 | 90.6 | 27 |" in card
