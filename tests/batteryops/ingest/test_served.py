"""batteryops.ingest.served: served telemetry and operators' verdicts as training data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import SplitParams
from batteryops.hazard.split import assign_splits
from batteryops.ingest import served

T0 = pd.Timestamp("2026-07-01T00:00:00Z")


def _telemetry(modules: dict[str, str], seconds: int = 120) -> pd.DataFrame:
    """``seconds`` rows of every module (``{module: rack}``), canonical columns."""
    parts = []
    for module, rack in modules.items():
        part = pd.DataFrame(
            {
                schema.TIMESTAMP: T0 + pd.to_timedelta(np.arange(seconds), unit="s"),
                schema.MODULE_ID: module,
                schema.RACK_ID: rack,
            }
        )
        for column in schema.SIGNALS:
            part[column] = np.float32(25.0)
        parts.append(part[schema.CANONICAL_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def _alarms(rows: list[tuple[str, int, int | None, str]]) -> pd.DataFrame:
    start = int(T0.timestamp())
    return pd.DataFrame(
        [(m, start + o, None if c is None else start + c, r) for m, o, c, r in rows],
        columns=[schema.MODULE_ID, "opened_ts", "closed_ts", "review"],
    )


MODULES = {"HV-1": "R1", "HV-2": "R1", "HV-3": "R2", "HV-4": "R2", "HV-5": "R2"}
ALARMS = _alarms(
    [
        ("HV-2", 10, 20, "false_alarm"),
        ("HV-2", 50, 60, "false_alarm"),
        ("HV-3", 30, 90, "true_alarm"),
        ("HV-4", 40, None, "acknowledged"),  # seen, not judged
        ("HV-5", 500, 510, "false_alarm"),  # after its served rows: not this batch's alarm
    ]
)


def test_each_module_gets_one_verdict_from_its_alarms() -> None:
    verdicts = served.module_verdicts(_telemetry(MODULES), ALARMS).set_index(schema.MODULE_ID)
    assert verdicts["verdict"].to_dict() == {
        "HV-1": "no_alarm",
        "HV-2": "false_alarm",
        "HV-3": "confirmed",
        "HV-4": "unjudged",
        "HV-5": "no_alarm",
    }
    assert verdicts.loc["HV-2", "alarms"] == 2
    assert verdicts.loc["HV-3", "last_alarm_ts"] == int(T0.timestamp()) + 90
    assert verdicts.loc["HV-4", "last_alarm_ts"] == int(T0.timestamp()) + 119  # open: last row


def test_a_batch_reads_back_as_episodes_with_their_truth(tmp_path: Path) -> None:
    summary = served.write_batch(_telemetry(MODULES), ALARMS, tmp_path)
    assert (summary["modules"], summary["unjudged"], summary["false_alarm"]) == (4, 1, 1)
    telemetry, truth = served.read(tmp_path, fault_lookback_s=60)
    batch = summary["batch"]
    # Unjudged modules stay out (a label would be a guess); ids are episodes of the batch.
    assert set(truth[schema.MODULE_ID]) == {f"HV-{i}@{batch}" for i in (1, 2, 3, 5)}
    assert set(telemetry[schema.RACK_ID]) == {f"R1@{batch}", f"R2@{batch}"}
    assert len(telemetry) == 4 * 120
    kinds = truth.set_index(schema.MODULE_ID)
    assert kinds.loc[f"HV-2@{batch}", "nuisance_type"] == "served_false_alarm"
    assert pd.isna(kinds.loc[f"HV-2@{batch}", "pnr_time"])
    confirmed = kinds.loc[f"HV-3@{batch}"]
    assert confirmed["fault_type"] == "served_confirmed"
    assert confirmed["pnr_time"] == T0 + pd.Timedelta(seconds=90)
    assert confirmed["fault_start"] == T0 + pd.Timedelta(seconds=30)  # the look-back
    assert list(truth.columns) == schema.TRUTH_COLUMNS


def test_served_episodes_always_train() -> None:
    batch = "20261204T000000Z"
    truth = pd.DataFrame(
        {
            schema.MODULE_ID: [f"M{i}" for i in range(20)] + [f"S{i}@{batch}" for i in range(6)],
            "pnr_time": pd.NaT,
            "fault_type": "none",
            "nuisance_type": ["none"] * 20 + ["served_false_alarm"] * 3 + ["served_no_alarm"] * 3,
        }
    )
    params = SplitParams(
        seed=1,
        validation_fraction=0.2,
        test_fraction=0.2,
        healthy_validation_fraction=0.3,
        healthy_test_fraction=0.3,
    )
    splits = assign_splits(truth, params)
    assert all(splits[f"S{i}@{batch}"] == "train" for i in range(6))
    assert {"validation", "test"} <= {splits[f"M{i}"] for i in range(20)}


def test_a_bad_verdict_names_the_file_and_column(tmp_path: Path) -> None:
    summary = served.write_batch(_telemetry(MODULES), ALARMS, tmp_path)
    path = tmp_path / summary["batch"] / served.VERDICTS
    verdicts = pd.read_csv(path)
    verdicts.loc[0, "verdict"] = "maybe"
    verdicts.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"verdicts\.csv: column 'verdict' holds \['maybe'\]"):
        served.read(tmp_path, 60)


def test_no_batches_read_as_empty(tmp_path: Path) -> None:
    telemetry, truth = served.read(tmp_path / "absent", 60)
    assert telemetry.empty and truth.empty
    assert list(truth.columns) == schema.TRUTH_COLUMNS
