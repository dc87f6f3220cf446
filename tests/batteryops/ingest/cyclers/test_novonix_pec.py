"""Novonix and PEC exports: every real file reads to the record contract, or is refused.

Excerpts (tests/data/cyclers/novonix_pec, see SOURCE.md) always run; the whole files are read in
place from ../shared/realdata. Expected values were checked against the files with pandas.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from batteryops.ingest.cyclers import Reader, head, novonix_pec
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import Records, cycles_from_records
from tests.batteryops.ingest.cyclers import realdata

DATA = Path(__file__).resolve().parents[3] / "data" / "cyclers" / "novonix_pec"
REALDATA = realdata.REALDATA
FORMATS = REALDATA / "formats"
NOVONIX = "test_Nova_Form-CH01-01_short.csv"
SIDECAR = "test_Nova_Form-CH01-01_short_metadata.csv"


def _reader(path: Path) -> Reader:
    claimed = [reader for reader in novonix_pec.READERS if reader.detect(path, head(path))]
    assert len(claimed) == 1, f"{path.name}: claimed by {[r.name for r in claimed]}"
    return claimed[0]


@functools.cache
def _read(path: Path) -> Records:
    return _reader(path).read(path)


def _real(relative: str) -> Path:
    return realdata.real(relative, FORMATS)


def _assert_counters_never_fall(result: Records) -> None:
    realdata.assert_counters_and_signs(result.frame)


def _rewrite(source: Path, target: Path, line: int, old: str, new: str) -> Path:
    lines = source.read_text(encoding="utf-8").split("\n")
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    target.write_text("\n".join(lines), encoding="utf-8")
    return target


# --- Novonix ------------------------------------------------------------------------------------


def test_novonix_whole_file_reads_to_the_contract() -> None:
    result = _read(_real(f"beep/novonix/{NOVONIX}"))
    summary = cycles_from_records(result)
    assert (result.source_format, result.cell_id) == ("novonix_csv", "Test_Form-CH01-01")
    assert len(result.frame) == 3942 and result.quarantined.empty
    assert summary["cycle"].tolist() == [1]  # formation charge only: the file is cut short
    # CC-CV to 1.5 V (step 2) then CC to 3.9 V (step 3): Novonix's counter runs on across them,
    # so the cycle's charge is the file's last Capacity (Ah), not the sum of the steps' ends.
    assert summary["charge_capacity_ah"].iat[0] == pytest.approx(0.0294679161)
    assert np.isnan(summary["capacity_ah"].iat[0])  # no discharge
    assert summary["charge_c_rate"].iat[0] == pytest.approx(0.012 / 0.24, rel=1e-3)  # C/20
    assert result.frame["temperature_c"].between(38.9, 39.5).all()
    assert result.frame["test_time_s"].iat[-1] == pytest.approx(17.434575 * 3600)
    _assert_counters_never_fall(result)


def test_novonix_excerpt_values_and_metadata() -> None:
    result = _read(DATA / NOVONIX)
    frame = result.frame.set_index("line")
    assert len(frame) == 300 and frame.index[0] == 59  # header on line 58, after [Data]
    assert frame.loc[178, "current_a"] == pytest.approx(-0.0539010466)  # charging: + in Novonix
    assert frame.loc[178, "charge_capacity_ah"] == pytest.approx(0.0000019464)
    assert frame.loc[205, "charge_capacity_ah"] == pytest.approx(0.0000525)  # CV part (type 8)
    assert frame.loc[205, "step"] == 2
    assert frame.loc[59, "voltage_v"] == pytest.approx(0.13736417)
    assert frame.loc[59, "temperature_c"] == pytest.approx(38.92947006)
    metadata = result.metadata
    assert metadata["nominal_capacity_ah"] == 0.24
    assert (metadata["channel"], metadata["start_time"]) == ("01", "2022-04-11 10:58:07 AM")
    assert metadata["procedure"] == "XC_Formation_Entree_Test.pro1"
    assert metadata["summary_file"] == SIDECAR
    assert metadata["summary"][0]["Qc"] == pytest.approx(0.0664822211)
    _assert_counters_never_fall(result)


def test_novonix_damaged_row_is_quarantined_with_its_line(tmp_path: Path) -> None:
    path = _rewrite(DATA / NOVONIX, tmp_path / NOVONIX, 178, "0.0539010466", "abc")
    result = novonix_pec.read_novonix(path)
    assert len(result.frame) == 299
    assert result.quarantined["line"].tolist() == [178]
    assert result.quarantined.at[0, "reason"] == (
        "line 178: current_a (column 'Current (A)') is 'abc' (expected a number)"
    )
    assert "summary" not in result.metadata  # no sidecar beside the copy


def test_novonix_without_data_block_is_unusable(tmp_path: Path) -> None:
    path = _rewrite(DATA / NOVONIX, tmp_path / "cut.csv", 57, "[Data]", "[Date]")
    with pytest.raises(UnusableFile, match=r"no \[Data\] block"):
        novonix_pec.read_novonix(path)


def test_novonix_sidecar_is_recognised_and_not_read_as_data() -> None:
    sidecar = DATA / SIDECAR
    assert [detect(sidecar, head(sidecar)) for detect in novonix_pec.SIDECARS] == [True]
    assert not any(reader.detect(sidecar, head(sidecar)) for reader in novonix_pec.READERS)
    data = DATA / NOVONIX
    assert not any(detect(data, head(data)) for detect in novonix_pec.SIDECARS)


# --- PEC ----------------------------------------------------------------------------------------


def test_pec_whole_file_reads_to_the_contract() -> None:
    result = _read(_real("cellpy/misc_cyclers/pec.csv"))
    summary = cycles_from_records(result).set_index("cycle")
    assert (result.source_format, result.cell_id) == ("pec_csv", "2019-187-1")
    assert len(result.frame) == 16255 and result.quarantined.empty
    assert summary.index.tolist() == [0, 1, 2]
    np.testing.assert_allclose(summary["capacity_ah"], [11.634168, 44.351991, np.nan], rtol=1e-6)
    np.testing.assert_allclose(summary["charge_capacity_ah"], [np.nan, 44.424915, 44.25893])
    assert summary["discharge_current_a"].loc[0] == pytest.approx(1.6399, rel=1e-3)  # C/25
    assert result.frame["temperature_c"].notna().sum() == 5389  # logged every few records
    assert result.frame["temperature_c"].dropna().between(24.9, 26.2).all()
    # While discharging (cycles 0 and 1), else over the cycle (2 only charges).
    np.testing.assert_allclose(summary["ambient_c"], [25.82, 26.08, 26.20])
    assert result.metadata["ambient_column"] == "Ambient temperature (°C)"
    assert result.frame["test_time_s"].iat[-1] == pytest.approx(323010.183)
    _assert_counters_never_fall(result)


def test_pec_excerpt_values_units_and_metadata() -> None:
    result = _read(DATA / "pec.csv")
    frame = result.frame.set_index("line")
    assert len(frame) == 300 and frame.index[0] == 34
    assert frame.loc[39, "current_a"] == pytest.approx(1.6339)  # "-1633.9" mA on discharge
    assert frame.loc[39, "voltage_v"] == pytest.approx(3.2692348)  # "3269.2348" mV
    assert frame.loc[40, "discharge_capacity_ah"] == pytest.approx(0.000455)  # "0.455" mAh
    assert frame.loc[40, "charge_capacity_ah"] == 0.0  # not the "Charge Capacity (mWh)" column
    assert frame.loc[34, "temperature_c"] == pytest.approx(24.9)  # cell surface, not ambient
    assert np.isnan(frame.loc[39, "temperature_c"])
    assert frame.loc[34, "ambient_c"] == pytest.approx(25.83)  # "Ambient temperature (°C)"
    assert np.isnan(frame.loc[39, "ambient_c"])  # logged every few records, as the cell's
    assert frame["ambient_c"].notna().sum() == 103
    assert cycles_from_records(result)["ambient_c"].tolist() == [pytest.approx(25.74)]
    metadata = result.metadata
    assert metadata["procedure"] == "SAFT VL43EFe dQdV C/25"
    assert (metadata["start_time"], metadata["channel"]) == ("02/22/2019 16:21:35", "SBT0550/001/1")
    assert "end_time" not in metadata  # "1/1/0001 0:00": not ended
    assert "nominal_capacity_ah" not in metadata  # the file states none
    assert metadata["units"]["voltage_v"] == "mv" and metadata["units"]["test_time_s"] == "seconds"


def test_pec_damaged_row_is_quarantined_with_its_line(tmp_path: Path) -> None:
    path = _rewrite(DATA / "pec.csv", tmp_path / "pec.csv", 40, "3268.6792", "abc")
    result = novonix_pec.read_pec(path)
    assert len(result.frame) == 299
    assert result.quarantined["line"].tolist() == [40]
    assert result.quarantined.at[0, "reason"] == (
        "line 40: voltage_v (column 'Voltage (mV)') is 'abc' (expected a number)"
    )
    assert result.quarantined.at[0, "Voltage (mV)"] == "abc"


def test_pec_time_in_decimal_hours_is_converted(tmp_path: Path) -> None:
    path = _rewrite(DATA / "pec.csv", tmp_path / "pec.csv", 33, "(Seconds)", "(Decimal Hours)")
    result = novonix_pec.read_pec(path)
    assert result.frame["test_time_s"].iat[0] == pytest.approx(3600.0)  # "1" hour


def test_pec_with_two_cells_is_unusable(tmp_path: Path) -> None:
    path = _rewrite(DATA / "pec.csv", tmp_path / "pec.csv", 50, "187,1,", "187,2,")
    with pytest.raises(UnusableFile, match="holds 2 cells") as error:
        novonix_pec.read_pec(path)
    assert error.value.column == "Cell"


# --- detection ----------------------------------------------------------------------------------

OTHER_FAMILIES = [
    "beep/arbin/2017-05-09_test-TC-contact_CH33.csv",
    "beep/arbin/2017-05-09_test-TC-contact_CH33_Metadata.csv",
    "beep/arbin/FastCharge_000025_CH8_Metadata.csv",
    "beep/biologic/test_loopsnewoutput_MB_CE1_short10k.csv",
    "beep/indigo/indigo_test_sample.h5",
    "beep/maccor/xTESLADIAG_000038.078",
    "beep/maccor/maccor_test_file_4267-66-6519.EDA0001.041",
    "cellpy/misc_cyclers/maccor_001.txt",
    "cellpy/misc_cyclers/maccor_002.txt",
    "cellpy/misc_cyclers/neware_uio.csv",
    "cellpy/misc_cyclers/nw_regular_export_ife_example.csv",
    "cellpy/misc_cyclers/20160805_test001_45_cc_01.res",
    "cellpy/misc_cyclers/20260302_IFE_BTS85_2_9_8_1.ndax",
    "cellpy/misc_cyclers/biol.mpr",
    "xcel_batterydatahub/arbin_example.csv",
    "xcel_batterydatahub/p492-13-raw.csv",
    "xcel_batterydatahub/p492-13-summary.csv",
]


def test_detect_claims_its_own_files() -> None:
    assert _reader(DATA / NOVONIX).name == "novonix_csv"
    assert _reader(DATA / "pec.csv").name == "pec_csv"


@pytest.mark.parametrize("relative", OTHER_FAMILIES, ids=lambda r: r.rsplit("/", 1)[-1])
def test_detect_leaves_other_families_alone(relative: str) -> None:
    path = _real(relative)
    assert not any(reader.detect(path, head(path)) for reader in novonix_pec.READERS)
    assert not any(sidecar(path, head(path)) for sidecar in novonix_pec.SIDECARS)
