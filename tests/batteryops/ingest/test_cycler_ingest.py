"""Cycle ingest over a folder of real cycler exports: each read by its reader, sidecars passed
over, records kept, a file no reader can use quarantined with its reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import load_params
from batteryops.ingest.cycle_files import ingest_cycle_files
from batteryops.ingest.records import RECORD_COLUMNS
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "cyclers"
EXPORTS = [
    "arbin/arbin_example.csv",  # Battery Data Hub's Arbin CSV, two cycles
    "arbin/FastCharge_000025_CH8.csv",  # a rest only: its cycle has no discharge
    "arbin/FastCharge_000025_CH8_Metadata.csv",  # the sidecar of the one above
    "maccor/xTESLADIAG_000038.078",
    "neware/nw_regular_export_ife_example.csv",
    "biologic/test_loopsnewoutput_MB_CE1_short10k.csv",
    "biologic/test_loopsnewoutput_MB_CE1_short10k.mpl",  # EC-Lab's log: a sidecar
    "beep_files/severson_batch_values_excerpt.csv",  # a per-cycle summary (generic ingest)
]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    folder = tmp_path_factory.mktemp("exports")
    for name in EXPORTS:
        shutil.copy(DATA / name, folder / Path(name).name)
    (folder / "run.mpr").write_bytes(b"BIO-LOGIC MODULAR FILE\x1a" + bytes(200))
    out = folder.parent / "out"
    out.mkdir()
    summary = ingest_cycle_files(
        sorted(folder.iterdir()),
        out / "cycles.parquet",
        out / "quarantine",
        load_params(ROOT / "params.yaml").cycle_ingest,
        out / "records.parquet",
    )
    return summary, out


def test_every_export_is_read_by_its_reader(ingested: tuple[dict, Path]) -> None:
    summary, out = ingested
    layouts = {Path(e["path"]).name: e.get("layout") for e in summary["files"] if e["accepted"]}
    assert layouts == {
        "arbin_example.csv": "arbin_csv",
        "FastCharge_000025_CH8.csv": "arbin_csv",
        "xTESLADIAG_000038.078": "maccor_text",
        "nw_regular_export_ife_example.csv": "neware_regular_csv",
        "test_loopsnewoutput_MB_CE1_short10k.csv": "biologic_text",
        "severson_batch_values_excerpt.csv": "matr",
    }
    assert sorted(Path(p).name for p in summary["sidecars"]) == [
        "FastCharge_000025_CH8_Metadata.csv",
        "test_loopsnewoutput_MB_CE1_short10k.mpl",
    ]
    cycles = pd.read_parquet(out / "cycles.parquet")
    assert list(cycles.columns) == schema.CYCLE_COLUMNS
    assert {"arbin_example", "xTESLADIAG_000038"} <= set(cycles[schema.CELL_ID])
    assert (cycles["capacity_ah"] > 0).all()


def test_no_reader_here_invents_a_chamber(ingested: tuple[dict, Path]) -> None:
    # None of these exports states a chamber (their aux and T columns are the cell's).
    _, out = ingested
    assert pd.read_parquet(out / "cycles.parquet")["ambient_c"].isna().all()
    assert pd.read_parquet(out / "records.parquet")["ambient_c"].isna().all()


def test_records_are_kept_beside_the_cycles(ingested: tuple[dict, Path]) -> None:
    _, out = ingested
    records = pd.read_parquet(out / "records.parquet")
    assert list(records.columns) == [schema.CELL_ID, *RECORD_COLUMNS]
    cycles = pd.read_parquet(out / "cycles.parquet")
    recorded = set(records[schema.CELL_ID])
    assert "arbin_example" in recorded and "xTESLADIAG_000038" in recorded
    # Every cycle of a record export comes from its records (the MATR summary has none).
    kept = cycles[cycles[schema.CELL_ID].isin(recorded)]
    pairs = set(map(tuple, records[[schema.CELL_ID, schema.CYCLE]].drop_duplicates().values))
    assert set(map(tuple, kept[schema.CYCLE_KEYS].values)) <= pairs


def test_a_cycle_without_discharge_and_an_unreadable_file_are_quarantined(
    ingested: tuple[dict, Path],
) -> None:
    summary, out = ingested
    rejected = {Path(e["path"]).name: e["reason"] for e in summary["files"] if not e["accepted"]}
    assert set(rejected) == {"run.mpr"}
    assert "GPL" in rejected["run.mpr"]["reason"]
    assert "text" in rejected["run.mpr"]["expected"]  # what to do: export it as text
    assert (out / "quarantine" / "run.mpr.reason.json").exists() or any(
        p.name.endswith("run.mpr.reason.json") for p in (out / "quarantine").iterdir()
    )
    rest = next(e for e in summary["files"] if e["path"].endswith("FastCharge_000025_CH8.csv"))
    assert rest["rows_kept"] == 0 and rest["quarantine_reasons"] == {"capacity_ah: missing": 1}
    rows = pd.read_csv(out / "quarantine" / "FastCharge_000025_CH8.cycles.csv")
    assert rows["reason"].str.contains("no discharge in the cycle").all()
    reason = json.loads(
        (out / "quarantine" / "FastCharge_000025_CH8.cycles.csv.reason.json").read_text()
    )
    assert reason["rows"] == 1
