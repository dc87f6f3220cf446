"""BioLogic readers on real exports: EC-Lab text with its .mpl log, and the refused .mpr.

An excerpt of the text export and its whole log are in tests/data/cyclers/biologic
(SOURCE.md); the whole export and the binary .mpr are read in place from ../shared/realdata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from batteryops.ingest.cyclers import biologic, head
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import Records, cycles_from_records
from tests.batteryops.ingest.cyclers import realdata

DATA = Path(__file__).resolve().parents[3] / "data" / "cyclers" / "biologic"
REALDATA = realdata.REALDATA
EXPORT = "test_loopsnewoutput_MB_CE1_short10k.csv"
LOG = "test_loopsnewoutput_MB_CE1_short10k.mpl"
# Other cyclers' exports that no BioLogic reader may claim (read in place when present).
OTHERS = [
    "formats/beep/arbin/FastCharge_000025_CH8.csv",
    "formats/beep/arbin/FastCharge_000025_CH8_Metadata.csv",
    "formats/beep/maccor/xTESLADIAG_000038.078",
    "formats/beep/novonix/test_Nova_Form-CH01-01_short.csv",
    "formats/beep/indigo/indigo_test_sample.h5",
    "formats/cellpy/misc_cyclers/maccor_001.txt",
    "formats/cellpy/misc_cyclers/pec.csv",
    "formats/cellpy/misc_cyclers/neware_uio.csv",
    "formats/cellpy/misc_cyclers/nw_regular_export_ife_example.csv",
    "formats/cellpy/misc_cyclers/20260302_IFE_BTS85_2_9_8_1.ndax",
    "formats/cellpy/misc_cyclers/20160805_test001_45_cc_01.res",
    "formats/xcel_batterydatahub/arbin_example.csv",
    "cycling/severson_mit_lfp/batch_values.csv",
]


def _real(name: str) -> Path:
    return realdata.real(name)


def _claims(path: Path) -> list[str]:
    return [reader.name for reader in biologic.READERS if reader.detect(path, head(path))]


def _is_sidecar(path: Path) -> bool:
    return any(sidecar(path, head(path)) for sidecar in biologic.SIDECARS)


@pytest.fixture(scope="module")
def full() -> Records:
    return biologic.read_text(_real(f"formats/beep/biologic/{EXPORT}"))


def test_excerpt_reads_with_the_log_beside_it() -> None:
    records = biologic.read_text(DATA / EXPORT)
    frame = records.frame
    assert (records.cell_id, records.source_format) == (EXPORT[:-4], "biologic_text")
    assert len(frame) == 196 and records.quarantined.empty
    assert frame["line"].tolist() == list(range(2, 198))
    # time/s holds dates ('Absolute MMDDYYYY' in the log): 15:36:22.757, then 15:36:45.513.
    assert frame["test_time_s"].iloc[:2].tolist() == pytest.approx([0.0, 22.756])
    assert set(frame["cycle"]) == {0}  # EC-Lab counts cycles from 0
    pulse = frame["step"] == 1  # Ns 1: a 2.5 A charge pulse, I/mA = +2493 in the file
    assert frame.loc[pulse, "current_a"].between(-2.5, -2.49).all()
    assert (frame.loc[frame["step"] == 2, "current_a"] == 0).all()
    assert frame["charge_capacity_ah"].iloc[-1] > frame.loc[pulse, "charge_capacity_ah"].max()
    assert frame["temperature_c"].isna().all()
    metadata = records.metadata
    assert metadata["log_file"] == LOG
    assert metadata["channel"] == "E1 (SN 0600)" and metadata["device"] == "BCS-815 (SN 0617)"
    assert metadata["start_time"] == "05/05/2021 15:36:22"
    assert metadata["time_format"] == "Absolute MMDDYYYY"
    assert "nominal_capacity_ah" not in metadata  # the log says 'Battery capacity : 0.000 A.h'
    assert "hold no values" in metadata["temperature"]  # T/°C is there, but empty


def test_whole_export_cycles_signs_and_capacities(full: Records) -> None:
    frame = full.frame
    assert len(frame) == 9999 and full.quarantined.empty
    assert sorted(frame["cycle"].unique()) == [0, 1, 2]
    # Ns 1, 3, 4, 7, 8 charge (CC, CV), Ns 5 discharges at 360 mA, Ns 9 rests.
    assert (frame.loc[frame["step"].isin([1, 3, 4, 7, 8]), "current_a"] < 0).all()
    assert frame.loc[frame["step"] == 5, "current_a"].between(0.358, 0.362).all()
    steps = frame.groupby("cycle")[["charge_capacity_ah", "discharge_capacity_ah"]].diff()
    assert (steps.fillna(0.0) >= -1e-12).all().all()
    cycles = cycles_from_records(full).set_index("cycle")
    # Q discharge/mA.h ends cycle 0 at 2324.598, cycle 1 at 2326.586; cycle 2 only charges.
    np.testing.assert_allclose(cycles["capacity_ah"], [2.324598, 2.326586, np.nan], atol=1e-6)
    # Q charge/mA.h runs through a cycle's charge steps: 1461.875, 2371.316, 2324.412.
    np.testing.assert_allclose(
        cycles["charge_capacity_ah"], [1.461875, 2.371316, 2.324412], atol=1e-6
    )
    assert cycles["temperature_c"].isna().all()
    assert frame["test_time_s"].max() == pytest.approx(102040.77)


def test_damaged_rows_are_quarantined_with_their_lines(tmp_path: Path) -> None:
    lines = (DATA / EXPORT).read_text(encoding="utf-8").splitlines(keepends=True)
    fields = lines[10].split(";")
    fields[5] = "abc"  # Ecell/V
    lines[10] = ";".join(fields)
    fields = lines[20].split(";")
    fields[4] = "yesterday"  # time/s
    lines[20] = ";".join(fields)
    (tmp_path / "damaged.csv").write_text("".join(lines), encoding="utf-8")
    records = biologic.read_text(tmp_path / "damaged.csv")
    assert records.quarantined["line"].tolist() == [11, 21]
    reasons = records.quarantined["reason"].tolist()
    assert reasons[0] == (
        "line 11: voltage_v (column 'Ecell/V'): 'abc' is not a number (expected a number (V))"
    )
    assert "test_time_s (column 'time/s'): 'yesterday' is not a time" in reasons[1]
    assert records.quarantined.loc[0, "Ecell/V"] == "abc"
    assert len(records.frame) == 194 and not records.frame["line"].isin([11, 21]).any()


MPT = (
    "EC-Lab ASCII FILE\n"
    "Nb header lines : 7\n"
    "\n"
    "Galvanostatic Cycling with Potential Limitation\n"
    "Run on channel : 3 (SN 1234)\n"
    "Battery capacity : 150.000 mA.h\n"
    "mode\tox/red\ttime/s\tEwe/V\t<I>/mA\tQ charge/mA.h\tQ discharge/mA.h\tcycle number\tNs\t\n"
    "1\t1\t0,0\t3,600\t-100,0\t0,0\t0,0\t0,000E+00\t0\t\n"
    "1\t1\t3600,0\t3,500\t-100,0\t0,0\t100,0\t0,000E+00\t0\t\n"
    "1\t1\t3601,0\t3,550\t50,0\t50,0\t0,0\t1,000E+00\t1\t\n"
)


def test_mpt_with_header_block_tabs_and_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "run_C03.mpt"
    path.write_text(MPT, encoding="latin-1")
    assert _claims(path) == ["biologic_text"]
    records = biologic.read_text(path)
    frame = records.frame
    assert frame["line"].tolist() == [8, 9, 10]
    np.testing.assert_allclose(frame["test_time_s"], [0.0, 3600.0, 3601.0])
    np.testing.assert_allclose(frame["current_a"], [0.1, 0.1, -0.05])  # <I>/mA, sign turned
    np.testing.assert_allclose(frame["discharge_capacity_ah"], [0.0, 0.1, 0.0])
    np.testing.assert_allclose(frame["charge_capacity_ah"], [0.0, 0.0, 0.05])
    assert frame["cycle"].tolist() == [0, 0, 1]
    assert records.metadata["technique"] == "Galvanostatic Cycling with Potential Limitation"
    assert records.metadata["channel"] == "3 (SN 1234)"
    assert records.metadata["nominal_capacity_ah"] == pytest.approx(0.15)


def test_export_without_a_cycle_column_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "nocycle.mpt"
    path.write_text(MPT.replace("cycle number", "loop"), encoding="latin-1")
    with pytest.raises(UnusableFile, match=r"no cycle column") as caught:
        biologic.read_text(path)
    assert "cycle number" in caught.value.expected


def test_mpr_is_claimed_and_refused_with_what_to_do() -> None:
    path = _real("formats/cellpy/misc_cyclers/biol.mpr")
    assert _claims(path) == ["biologic_mpr"]
    with pytest.raises(
        UnusableFile, match=r"EC-Lab binary \.mpr \(modules: VMP Set, VMP data"
    ) as caught:
        biologic.read_mpr(path)
    assert "GPL-3.0" in caught.value.reason
    assert "exported as text from EC-Lab" in caught.value.expected


def test_mpr_magic_alone_is_enough_to_claim(tmp_path: Path) -> None:
    path = tmp_path / "renamed.dat"
    path.write_bytes(biologic.MPR_MAGIC + b"\x1a" + b" " * 40)
    assert _claims(path) == ["biologic_mpr"]
    with pytest.raises(UnusableFile, match=r"modules: none found"):
        biologic.read_mpr(path)


def test_detect_claims_the_export_and_passes_the_log_as_a_sidecar() -> None:
    assert _claims(DATA / EXPORT) == ["biologic_text"]
    assert _claims(DATA / LOG) == [] and _is_sidecar(DATA / LOG)
    assert not _is_sidecar(DATA / EXPORT)


def test_detect_leaves_other_cyclers_files_alone() -> None:
    local = sorted((DATA.parent / "neware").glob("*"))
    present = [REALDATA / name for name in OTHERS if (REALDATA / name).is_file()]
    assert len(local) >= 2
    for path in [*local, *present]:
        assert _claims(path) == [] and not _is_sidecar(path), path
