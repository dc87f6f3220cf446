"""batteryops.health.nasa_soh: rows, labels, the split and the baselines of the NASA SOH task.

Tiny synthetic cells in the records layout :func:`batteryops.ingest.cyclers.nasa.read_nasa_mat`
gives (one charge and one discharge per cycle); one test reads a real file and skips without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.health import nasa_soh
from batteryops.ingest import records as rec
from batteryops.ingest.records import Records

CC_A = 1.5
REAL = Path(__file__).resolve().parents[3].parent / "shared" / "realdata" / "cycling" / "nasa_pcoe"


def _charge(capacity_ah: float, start_s: float) -> dict[str, np.ndarray]:
    """A CC-CV charge of a cell of this capacity: its CC voltage climbs 0.7 V over 0.7 of it."""
    cc_s = 0.7 * capacity_ah / CC_A * 3600.0
    time = np.arange(0.0, cc_s + 3000.0, 20.0)
    in_cc = time <= cc_s
    current = np.where(in_cc, CC_A, CC_A * np.exp(-(time - cc_s) / 600.0))
    voltage = np.where(in_cc, 3.5 + 0.7 * time / cc_s, 4.2)
    return {"t": start_s + time, "v": voltage, "i": -current, "temp": 25.0 + 0.0 * time}


def _top_up(start_s: float) -> dict[str, np.ndarray]:
    """A short charge from 4.0 V: 0.2 V of CC, then a taper."""
    charge = _charge(0.4, start_s)
    keep = charge["v"] >= 3.5 + 0.7 * 0.5
    return {name: values[keep] for name, values in charge.items()}


def _discharge(capacity_ah: float, start_s: float, load_a: float) -> dict[str, np.ndarray]:
    time = np.arange(0.0, capacity_ah / load_a * 3600.0, 20.0)
    voltage = 4.1 - 1.4 * time / time[-1]
    return {"t": start_s + time, "v": voltage, "i": np.full(time.size, load_a), "temp": 0 * time}


def synthetic_records(
    name: str,
    capacities_ah: list[float],
    load_a: float | list[float] = 2.0,
    ambient_c: float = 24.0,
    top_up_cycles: tuple[int, ...] = (),
) -> Records:
    """A cell whose cycle k is a charge (operation 3k - 2) and a discharge (operation 3k).

    In ``top_up_cycles`` a short top-up charge from 4.0 V (operation 3k - 1) follows the charge.
    """
    loads = load_a if isinstance(load_a, list) else [load_a] * len(capacities_ah)
    parts, start = [], 0.0
    for cycle, (capacity, load) in enumerate(zip(capacities_ah, loads, strict=True), start=1):
        fade = max(capacity, 0.5) / capacities_ah[0]  # a failed discharge still had a charge
        operations = [(3 * cycle - 2, _charge(1.8 * fade, start))]
        if cycle in top_up_cycles:
            operations.append((3 * cycle - 1, _top_up(start + 2e4)))
        for step, part in [*operations, (3 * cycle, None)]:
            part = part or _discharge(max(capacity, 0.05), start, load)
            parts.append(pd.DataFrame({**part, "cycle": cycle, "step": step}))
            start = float(part["t"][-1]) + 600.0
    frame = pd.concat(parts, ignore_index=True)
    charging = frame["i"].clip(upper=0).abs()
    charge = (
        (charging * frame.groupby("cycle")["t"].diff().fillna(0) / 3600)
        .groupby(frame["cycle"])
        .cumsum()
    )
    records = pd.DataFrame(
        {
            rec.RECORD: np.arange(len(frame)),
            rec.LINE: np.arange(len(frame)) + 1,
            rec.TEST_TIME: frame["t"],
            schema.CYCLE: frame["cycle"],
            rec.STEP: frame["step"],
            rec.CURRENT: frame["i"],
            rec.VOLTAGE: frame["v"],
            rec.CHARGE: charge,
            rec.DISCHARGE: 0.0,
            rec.TEMPERATURE: frame["temp"],
            rec.RESISTANCE: np.nan,
        }
    )
    count = len(capacities_ah)
    cycles = pd.DataFrame(
        {
            schema.CYCLE: np.arange(1, count + 1),
            "discharge_operation": 3 * np.arange(1, count + 1),
            "ambient_temperature_c": ambient_c,
            "capacity_file_ah": capacities_ah,
        }
    )
    impedance = pd.DataFrame(
        {rec.TEST_TIME: [0.0], schema.CYCLE: [1], "re_ohm": [0.05], "rct_ohm": [0.08]}
    )
    return Records(
        name, records, "nasa_pcoe_mat", metadata={"cycles": cycles, "impedance": impedance}
    )


FADE = [1.8, 1.78, 1.76, 1.74, 1.72, 1.70]


def labelled(records: Records) -> pd.DataFrame:
    return nasa_soh.label_rows(nasa_soh.discharge_rows(records))


def test_label_is_capacity_over_the_reference_and_judged_after_it() -> None:
    rows = labelled(synthetic_records("A", FADE))
    assert rows[nasa_soh.SOH].to_numpy() == pytest.approx(np.array(FADE) / FADE[0])
    assert rows["labelled"].tolist() == [False, True, True, True, True, True]
    # Inputs compare with the median of the first three reference charges (FADE[1] here).
    assert nasa_soh.REFERENCE_CHARGES == 3
    assert rows["charge_ah_ratio"].iloc[1:].to_numpy() == pytest.approx(
        np.array(FADE[1:]) / np.median(FADE[:3]), rel=0.01
    )


def test_one_odd_first_charge_moves_no_ratio() -> None:
    """A first charge that filled a cell left emptier (B0051's: 1.29x the next) is outvoted."""
    plain = labelled(synthetic_records("A", FADE))
    records = synthetic_records("A", FADE)
    frame = records.frame.copy()
    first = frame[schema.CYCLE] == 1
    charging = first & (frame[rec.CURRENT] < 0)  # the records charge with negative current
    frame.loc[charging, [rec.CURRENT, rec.CHARGE]] *= 1.3
    odd = labelled(Records("A", frame, records.source_format, metadata=records.metadata))
    assert odd["charge_ah"].iloc[0] == pytest.approx(1.3 * plain["charge_ah"].iloc[0], rel=0.01)
    assert odd["charge_ah_ratio"].iloc[1:].to_numpy() == pytest.approx(
        plain["charge_ah_ratio"].iloc[1:].to_numpy(), rel=1e-6
    )


def test_no_feature_moves_when_the_judged_capacities_are_permuted() -> None:
    records = synthetic_records("A", FADE)
    permuted = records.metadata["cycles"].assign(capacity_file_ah=FADE[:1] + FADE[:0:-1])
    shuffled = Records(
        "A", records.frame, records.source_format, metadata={**records.metadata, "cycles": permuted}
    )
    before, after = labelled(records), labelled(shuffled)
    pd.testing.assert_frame_equal(before[list(nasa_soh.FEATURES)], after[list(nasa_soh.FEATURES)])
    assert not np.allclose(before[nasa_soh.SOH], after[nasa_soh.SOH])


def test_features_come_from_the_charge_before_the_discharge_only() -> None:
    records = synthetic_records("A", FADE)
    frame = records.frame.copy()
    in_discharge = frame[rec.STEP] % 3 == 0
    frame.loc[in_discharge, rec.VOLTAGE] -= 0.3  # a different discharge curve
    frame.loc[in_discharge, rec.CURRENT] *= 1.05
    changed = Records("A", frame, records.source_format, metadata=records.metadata)
    features = list(nasa_soh.FEATURES)
    features.remove("days_since_reference")  # unchanged anyway: the times are the same
    pd.testing.assert_frame_equal(labelled(records)[features], labelled(changed)[features])
    # A longer charge before discharge 4 moves row 4's charge features and no earlier row's.
    longer = records.frame.copy()
    step = longer[rec.STEP] == 10  # the charge of cycle 4
    longer.loc[step, rec.CURRENT] *= 1.1
    after = labelled(Records("A", longer, records.source_format, metadata=records.metadata))
    before = labelled(records)
    assert after["charge_ah_ratio"].iloc[3] > before["charge_ah_ratio"].iloc[3] + 0.05
    assert after["charge_ah_ratio"].iloc[:3].tolist() == before["charge_ah_ratio"].iloc[:3].tolist()


def test_discharges_unlike_the_reference_are_not_labelled() -> None:
    capacities = [1.8, 1.78, 0.0, 2.5, 1.6, 1.7]
    loads = [2.0, 2.0, 2.0, 2.0, 4.0, 2.0]
    rows = labelled(synthetic_records("A", capacities, load_a=loads))
    # 0 Ah and 2.5 Ah on a 2 Ah cell are no capacities; 4 A is not the reference's load.
    assert rows["labelled"].tolist() == [False, True, False, False, False, True]
    small = labelled(synthetic_records("B", [0.6, 0.59, 0.58]))
    assert not small["labelled"].any()  # a reference under half the rated capacity


def test_last_checkup_takes_the_latest_strictly_earlier_one() -> None:
    rows = labelled(synthetic_records("A", FADE))
    soh = rows[nasa_soh.SOH].to_numpy()
    every_one = nasa_soh.last_checkup(rows, 1).to_numpy()
    assert every_one[1:] == pytest.approx(soh[:-1])
    every_two = nasa_soh.last_checkup(rows, 2).to_numpy()
    assert every_two[1:] == pytest.approx([soh[0], soh[0], soh[2], soh[2], soh[4]])


def test_checkup_fade_fit_falls_back_then_fits() -> None:
    rows = labelled(synthetic_records("A", FADE))
    fitted = nasa_soh.checkup_fade_fit(rows, 1).to_numpy()
    assert fitted[1] == pytest.approx(1.0)  # one check-up: the last one
    assert fitted[-1] == pytest.approx(FADE[-1] / FADE[0], abs=0.005)  # a straight fade


def test_split_by_ambient_keeps_cells_apart() -> None:
    rows = pd.concat(
        [
            labelled(synthetic_records("cold", FADE, ambient_c=4.0)),
            labelled(synthetic_records("hot", FADE, ambient_c=43.0)),
            labelled(synthetic_records("room", FADE, ambient_c=24.0)),
        ],
        ignore_index=True,
    )
    train, test = nasa_soh.split_by_ambient(rows, [4.0, 43.0], [24.0])
    assert (train, test) == (["cold", "hot"], ["room"])


def test_a_real_cell_has_its_labels_and_charge_features() -> None:
    path = REAL / "raw_mat" / "B0025.mat"
    if not path.exists():
        pytest.skip(f"real data not found: {path}")
    from batteryops.ingest.cyclers.nasa import read_nasa_mat

    rows = labelled(read_nasa_mat(path))
    assert len(rows) == 28
    assert rows["reference_ah"].iloc[0] == pytest.approx(1.847, abs=1e-3)
    assert rows["labelled"].sum() == 27
    assert rows.loc[rows["labelled"], "charge_ah_ratio"].notna().all()


def test_an_isolated_dip_is_flagged_and_a_steady_fade_is_not() -> None:
    dipped = [1.8, 1.79, 1.78, 1.3, 1.77, 1.76, 1.75]
    rows = labelled(synthetic_records("A", dipped))
    assert rows.index[nasa_soh.isolated_labels(rows)].tolist() == [3]
    assert not nasa_soh.isolated_labels(labelled(synthetic_records("B", FADE))).any()


def test_a_top_up_after_the_charge_gives_no_feature() -> None:
    plain = labelled(synthetic_records("A", FADE))
    topped = labelled(synthetic_records("A", FADE, top_up_cycles=(3,)))
    features = [name for name in nasa_soh.FEATURES if name != "days_since_reference"]
    counters = ["equivalent_full_cycles"]  # the top-up's charge is throughput all the same
    pd.testing.assert_frame_equal(
        plain.loc[[2], [f for f in features if f not in counters]],
        topped.loc[[2], [f for f in features if f not in counters]],
    )
    assert topped["equivalent_full_cycles"].iloc[2] > plain["equivalent_full_cycles"].iloc[2]
