"""Judging a fitted health model on cells it never met: another cell, aged by another model.

:func:`judge` featurizes the cells' cycle data with the model's own settings, labels them (the
truth where given, else measured at check-ups) and scores SOH every ``row_stride`` cycles beside
the baselines that fit nothing (last check-up, check-up fade line, coulomb count), and RUL at
``rul_judged_at_cycle``. The model is not refitted: this is the figure a user gets by pointing
``batteryops health`` at such cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.health import dataset
from batteryops.health.model import FADE_FIT_RUL, HealthModel, fade_fit_rul
from batteryops.health.table import labelled


def judge(model: HealthModel, cycles: pd.DataFrame, truth: pd.DataFrame | None) -> dict:
    """SOH (every ``row_stride`` cycles after the first) and RUL metrics of ``model`` on cells.

    Args:
        model: A fitted health model.
        cycles: Canonical cycle data of the cells (no curves).
        truth: Per (cell, cycle) the true ``soh``; None to label by check-ups.

    Returns:
        ``{"cells", "soh": {predictor: metrics}, "rul_at_judged_cycle": {predictor: metrics}}``.
    """
    params = model.params
    frame = labelled(cycles, None, truth, params)
    cycle = frame[schema.CYCLE]
    rows = frame[(cycle % params.row_stride == 0) & (cycle > 0) & frame[dataset.SOH].notna()]
    cells = rows[schema.CELL_ID]
    predicted = model.predict_rows(rows.drop(columns=[dataset.SOH, dataset.RUL]))
    soh_out = {"xgboost": dataset.soh_metrics(rows[dataset.SOH], predicted["soh"], cells)}
    for name, column in dataset.SOH_BASELINES.items():
        soh_out[name] = dataset.soh_metrics(rows[dataset.SOH], rows[column], cells)
    at = frame[cycle == params.rul_judged_at_cycle].copy()
    fit = fade_fit_rul(frame, at, params.eol_soh)
    at[FADE_FIT_RUL] = np.log1p(np.clip(fit, 0, params.max_rul_cycles))
    rul_out = {"fade_fit": dataset.rul_metrics(at[dataset.RUL], fit, one_per_cell=True)}
    if model.rul is not None:  # a model whose training cells gave no RUL rows has none
        rul = model.predict_rows(at.drop(columns=[dataset.SOH, dataset.RUL]))
        rul_out = {
            "xgboost": dataset.rul_metrics(at[dataset.RUL], rul["rul_cycles"], one_per_cell=True)
        } | rul_out
    return {
        "cells": int(frame[schema.CELL_ID].nunique()),
        "soh": soh_out,
        "rul_at_judged_cycle": rul_out,
    }
