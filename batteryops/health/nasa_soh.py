"""State of health of the NASA PCoE cells from their charges: rows, labels, splits and baselines.

One row per discharge of a cell (:func:`discharge_rows`), from the records of
:func:`batteryops.ingest.cyclers.nasa.read_nasa_mat` (a cycle there is a discharge and every
operation since the one before it, so the charge that fills the cell for a discharge is in its
cycle). The **label** (:func:`label_rows`) is that discharge's capacity (the file's
``Capacity``) over the cell's reference capacity: its first discharge that follows a charge
(a cell's very first discharge often comes out of storage, not off a full charge: B0029-32,
B0045-48). The **inputs** come only from the charge(s) before the discharge and from running
counters, never from a discharge:

* the last charge of the cycle (:func:`batteryops.health.charge_features.charge_features`), as
  ratios to (or, for voltages and temperatures, differences from) the median of the cell's
  first :data:`REFERENCE_CHARGES` reference charges: a cell's initial state measured on
  charges, not on a discharge;
* charge throughput (equivalent full cycles of the rated capacity) and days since the
  reference, discharges since the reference, the ambient temperature;
* Re and Rct of the latest impedance test (EIS) before the discharge, over the first one's.

A discharge is labelled only where its capacity means the same thing as the reference's: a
capacity > 0 and at most :data:`MAX_CAPACITY_SHARE` of the rated one (NASA's 2.38-2.64 Ah on
2 Ah cells are failed integrations), at the reference's ambient temperature and load current
(B0038-40 switch both mid-test, B0041 its load: the delivered capacity moves by 40-95 %), in a
cell whose reference is at least :data:`MIN_REFERENCE_SHARE` of the rated capacity (a "fresh"
cell that delivers less is limited by its protocol, cold or rate, and its ratios are not a state
of health: B0039 0.47 Ah, B0041 0.06 Ah).

The baselines of the same rows use discharges, as a field check-up would: the last check-up's
SOH with a check-up every ``every`` discharges (:func:`last_checkup`), a fade fit through those
check-ups (:func:`checkup_fade_fit`) or through the training cells (:func:`population_fade_fit`),
and the coulomb count of the last charge (its charge over the reference's, a ratio feature).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.health import charge_features, dataset, fade_fit
from batteryops.ingest import records as rec
from batteryops.ingest.records import Records

RATED_AH = 2.0  # the PCoE 18650 cells (the data's README: ~2 Ah)
WINDOWS_V: tuple[tuple[float, float], ...] = ((3.8, 4.0), (3.9, 4.1), (4.0, 4.15), (3.8, 4.15))
MAX_CAPACITY_SHARE = 1.1
MIN_REFERENCE_SHARE = 0.5
SAME_AMBIENT_C = 2.5
SAME_LOAD_SHARE = 0.1
LOADED_A = 0.1  # a discharge sample above this current is under load
SOH = dataset.SOH
DIP_WINDOW = 5  # discharges, centred, whose median an isolated label is compared with
# The inputs' reference is the median of this many first charges (of reference discharges), not
# the first alone: in 4 of the 12 training cells the first such charge is 3-29 % above the
# median of the next three (B0049 1.03, B0050 1.07, B0051 1.29, B0053 1.06): it filled a cell
# left emptier by an earlier test, and every ratio of the cell would carry that offset.
REFERENCE_CHARGES = 3
DIP_SOH = 0.1  # a label this far from that median is a failed discharge, not a state of health
# Charge features compared with the reference charge by ratio; the rest by difference.
RATIO_FEATURES = (
    "charge_ah",
    "cc_ah",
    "cc_s",
    "cv_ah",
    "cv_s",
    *(charge_features.window_name(low, high) for low, high in WINDOWS_V),
    "ic_peak_ah_per_v",
    "re_ohm",
    "rct_ohm",
)
DIFFERENCE_FEATURES = ("cc_start_v", "ic_peak_v", "temperature_mean_c", "temperature_rise_c")
COUNTER_FEATURES = (
    "discharges_since_reference",
    "equivalent_full_cycles",
    "days_since_reference",
    "ambient_temperature_c",
)
FEATURES = (
    *(f"{name}_ratio" for name in RATIO_FEATURES),
    *(f"{name}_change" for name in DIFFERENCE_FEATURES),
    *COUNTER_FEATURES,
)


def _charge_of(
    cycle_records: pd.DataFrame, discharge_step: int, windows: Sequence[tuple[float, float]]
) -> dict[str, float]:
    """Features of the charges of a cycle before its discharge (NaN without one).

    A cycle may hold two charges (B0025-28's cycles 8 and 23: a full charge, an unlogged loss
    of 0.5-1.4 Ah, then a top-up from 3.7-3.95 V): the features, ``charge_ah`` included, are
    those of the largest, the near-full one. Adding the two would count the refill of the
    unlogged loss as capacity; the top-up alone starts inside the voltage windows.
    """
    before = cycle_records[cycle_records[rec.STEP] < discharge_step]
    found = [
        charge_features.charge_features(
            frame[rec.TEST_TIME].to_numpy(),
            frame[rec.VOLTAGE].to_numpy(),
            -frame[rec.CURRENT].to_numpy(),  # records: + on discharge
            frame[rec.TEMPERATURE].to_numpy(),
            windows,
        )
        for _, frame in before.groupby(rec.STEP, sort=True)
        if frame[rec.CURRENT].mean() < 0
    ]
    if not found:
        return dict.fromkeys(charge_features.feature_names(windows), np.nan)
    return max(found, key=lambda features: np.nan_to_num(features["charge_ah"]))


def _latest_impedance(impedance: pd.DataFrame, before_s: float) -> dict[str, float]:
    """Re and Rct of the last usable EIS that started before ``before_s`` (NaN if none)."""
    usable = impedance[impedance["re_ohm"].notna() & (impedance[rec.TEST_TIME] < before_s)]
    if usable.empty:
        return {"re_ohm": np.nan, "rct_ohm": np.nan}
    last = usable.iloc[-1]
    return {"re_ohm": float(last["re_ohm"]), "rct_ohm": float(last["rct_ohm"])}


def discharge_rows(
    records: Records, windows: Sequence[tuple[float, float]] = WINDOWS_V
) -> pd.DataFrame:
    """One row per discharge of a NASA cell: its capacity, conditions, charge and counters.

    Columns: ``cell_id``, ``cycle``, ``capacity_ah`` (the file's), ``ambient_temperature_c``,
    ``load_current_a`` (median loaded current), ``has_charge``, the charge features,
    ``throughput_ah`` (charge into the cell up to the discharge), ``elapsed_days``, ``re_ohm``
    and ``rct_ohm``.
    """
    frame = records.frame
    cycles = records.metadata["cycles"]
    impedance = records.metadata["impedance"]
    charged = frame.groupby(schema.CYCLE)[rec.CHARGE].max()
    throughput = charged.cumsum()
    by_cycle = dict(tuple(frame.groupby(schema.CYCLE, sort=True)))
    rows = []
    for entry in cycles[cycles["discharge_operation"] > 0].itertuples(index=False):
        cycle_records = by_cycle.get(entry.cycle)
        if cycle_records is None:
            continue
        discharge = cycle_records[cycle_records[rec.STEP] == entry.discharge_operation]
        if discharge.empty:
            continue
        start_s = float(discharge[rec.TEST_TIME].iloc[0])
        loaded = discharge[rec.CURRENT][discharge[rec.CURRENT] > LOADED_A]
        features = _charge_of(cycle_records, entry.discharge_operation, windows)
        rows.append(
            {
                schema.CELL_ID: records.cell_id,
                schema.CYCLE: int(entry.cycle),
                "capacity_ah": float(entry.capacity_file_ah),
                "ambient_temperature_c": float(entry.ambient_temperature_c),
                "load_current_a": float(loaded.median()) if len(loaded) else np.nan,
                "has_charge": bool(np.isfinite(features["charge_ah"])),
                **features,
                "throughput_ah": float(throughput.get(entry.cycle, np.nan)),
                "elapsed_days": start_s / 86400.0,
                **_latest_impedance(impedance, start_s),
            }
        )
    return pd.DataFrame(rows)


def _valid_capacity(capacity: pd.Series, rated_ah: float) -> pd.Series:
    return capacity.gt(0) & capacity.le(MAX_CAPACITY_SHARE * rated_ah)


def _label_cell(cell: pd.DataFrame, rated_ah: float) -> pd.DataFrame:
    """One cell's rows with the label, the comparison with its reference and the flags."""
    cell = cell.sort_values(schema.CYCLE).reset_index(drop=True)
    valid = _valid_capacity(cell["capacity_ah"], rated_ah)
    candidates = np.flatnonzero((valid & cell["has_charge"]).to_numpy())
    out = cell.assign(
        **{SOH: np.nan, "labelled": False, "valid_capacity": False, "reference_ah": np.nan}
    )
    if not candidates.size:
        return out
    ref = cell.iloc[candidates[0]]
    after = np.arange(len(cell)) > candidates[0]
    same = (cell["ambient_temperature_c"] - ref["ambient_temperature_c"]).abs().le(
        SAME_AMBIENT_C
    ) & (cell["load_current_a"] - ref["load_current_a"]).abs().le(
        SAME_LOAD_SHARE * ref["load_current_a"]
    )
    usable = ref["capacity_ah"] >= MIN_REFERENCE_SHARE * rated_ah
    out[SOH] = cell["capacity_ah"] / ref["capacity_ah"]
    out["reference_ah"] = ref["capacity_ah"]
    out["valid_capacity"] = valid & same & usable
    out["labelled"] = out["valid_capacity"] & cell["has_charge"] & after
    out["discharges_since_reference"] = np.arange(len(cell)) - candidates[0]
    # The charge the inputs compare with: the median of the first reference-condition charges.
    charges = cell.iloc[candidates[:REFERENCE_CHARGES]][[*RATIO_FEATURES, *DIFFERENCE_FEATURES]]
    initial = charges.median()
    for name in RATIO_FEATURES:
        out[f"{name}_ratio"] = cell[name] / initial[name]
    for name in DIFFERENCE_FEATURES:
        out[f"{name}_change"] = cell[name] - initial[name]
    out["equivalent_full_cycles"] = (cell["throughput_ah"] - ref["throughput_ah"]) / rated_ah
    out["days_since_reference"] = cell["elapsed_days"] - ref["elapsed_days"]
    return out


def label_rows(rows: pd.DataFrame, rated_ah: float = RATED_AH) -> pd.DataFrame:
    """Every cell's rows with ``soh``, ``labelled`` (judged and trained on) and the features.

    A cell without a reference keeps NaN features; rows up to its reference are never
    labelled. ``valid_capacity`` marks a discharge a check-up could use (module docstring's
    rules).
    """
    parts = [_label_cell(cell, rated_ah) for _, cell in rows.groupby(schema.CELL_ID, sort=True)]
    return pd.concat(parts, ignore_index=True).reindex(
        columns=list(
            dict.fromkeys(
                [*rows.columns, SOH, "labelled", "valid_capacity", "reference_ah", *FEATURES]
            )
        )
    )


def isolated_labels(rows: pd.DataFrame) -> pd.Series:
    """Labelled rows whose SOH is an isolated dip or spike: a failed discharge, not a state.

    A label further than :data:`DIP_SOH` from the median of the :data:`DIP_WINDOW` labelled
    discharges centred on it (B0026's 1.39 Ah between two of 1.81 Ah; NASA's notes on the 4 °C
    groups: "several discharge runs where the capacity was very low"). It looks at later labels
    too, so it may clean training rows or split a report, never make a feature.
    """
    flagged = pd.Series(False, index=rows.index)
    for _, cell in rows[rows["labelled"]].groupby(schema.CELL_ID):
        soh = cell.sort_values(schema.CYCLE)[SOH]
        median = soh.rolling(DIP_WINDOW, center=True, min_periods=1).median()
        flagged[soh.index] = (soh - median).abs() > DIP_SOH
    return flagged


def split_by_ambient(
    rows: pd.DataFrame, train_c: list[float], test_c: list[float]
) -> tuple[list[str], list[str]]:
    """Training and test cells by the ambient temperature of each cell's labelled rows.

    Raises:
        AssertionError: If a cell would be on both sides.
    """
    labelled = rows[rows["labelled"]]
    cells = (
        labelled.groupby(schema.CELL_ID)["ambient_temperature_c"]
        .median()
        .rename("temperature_c")
        .reset_index()
    )
    split = dataset.temperature_holdout(cells, train_c, test_c)
    train = sorted(cell for cell, side in split.items() if side == "train")
    test = sorted(cell for cell, side in split.items() if side == "test")
    dataset.assert_no_leak(train, test)
    return train, test


def _checkups(cell: pd.DataFrame, every: int) -> pd.DataFrame:
    """A cell's check-ups: the reference and every ``every``-th discharge after it, if usable."""
    since = cell["discharges_since_reference"]
    return cell[cell["valid_capacity"] & since.ge(0) & (since % every == 0)]


def last_checkup(rows: pd.DataFrame, every: int) -> pd.Series:
    """Baseline: the SOH of the latest check-up strictly before each row (every ``every``)."""
    predicted = pd.Series(np.nan, index=rows.index)
    for _, cell in rows.groupby(schema.CELL_ID):
        checkups = _checkups(cell, every)
        since = checkups["discharges_since_reference"].to_numpy()
        for index, now in zip(cell.index, cell["discharges_since_reference"], strict=True):
            earlier = np.flatnonzero(since < now)
            if earlier.size:
                predicted[index] = checkups[SOH].iloc[earlier[-1]]
    return predicted


def checkup_fade_fit(rows: pd.DataFrame, every: int) -> pd.Series:
    """Baseline: :func:`fade_fit.fit_fade` through the earlier check-ups, at each row.

    With fewer than :data:`batteryops.health.fade_fit.MIN_POINTS` check-ups, the last one's SOH.
    """
    predicted = last_checkup(rows, every)
    for _, cell in rows.groupby(schema.CELL_ID):
        checkups = _checkups(cell, every)
        since = checkups["discharges_since_reference"].to_numpy()
        for index, now in zip(cell.index, cell["discharges_since_reference"], strict=True):
            earlier = since < now
            if earlier.sum() >= fade_fit.MIN_POINTS:
                fit = fade_fit.fit_fade(since[earlier], checkups[SOH].to_numpy()[earlier])
                predicted[index] = float(fit.predict(float(now)))
    return predicted


def population_fade_fit(train: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    """Baseline: one fade curve through every training row, read at each row's discharge count."""
    fit = fade_fit.fit_fade(
        train["discharges_since_reference"].to_numpy(dtype=float), train[SOH].to_numpy()
    )
    return pd.Series(
        fit.predict(rows["discharges_since_reference"].to_numpy(dtype=float)), index=rows.index
    )
