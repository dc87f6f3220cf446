"""Maccor text exports: every real file reads to the record contract, or is refused with a reason.

Excerpts (tests/data/cyclers/maccor, see SOURCE.md) always run; the whole files are read in place
from ../shared/realdata. Expected counts and capacities were checked against the files with an
independent pandas reading (sum over the cycle's C or D steps of each step's last Amp-hr).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batteryops.ingest.cyclers import Reader, head, maccor
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import Records, cycles_from_records
from tests.batteryops.ingest.cyclers import realdata

DATA = Path(__file__).resolve().parents[3] / "data" / "cyclers" / "maccor"
REALDATA = realdata.REALDATA
FORMATS = REALDATA / "formats"


def _reader(path: Path) -> Reader:
    claimed = [reader for reader in maccor.READERS if reader.detect(path, head(path))]
    assert claimed, f"no Maccor reader claims {path.name}"
    return claimed[0]


@functools.cache
def _read(path: Path) -> Records:
    return _reader(path).read(path)


def _real(relative: str) -> Path:
    return realdata.real(relative, FORMATS)


def _assert_contract(result: Records) -> None:
    """Counters and current signs as every reader's (realdata), lines in file order."""
    frame = result.frame
    realdata.assert_counters_and_signs(frame)
    assert frame["line"].is_monotonic_increasing


# file, records, (first cycle, last cycle, number of cycles), discharge capacity per cycle
# (min, max, Ah), largest charge capacity (Ah), cell id
WHOLE_FILES = [
    ("beep/maccor/PreDiag_000229_000229_truncated.034", 4061, (0, 1, 2), (0.0, 4.7626), 4.7734,
     "000229"),
    ("beep/maccor/PreDiag_000412_00008Fshort.022", 10344, (0, 339, 340), (0.0, 4.7148), 4.7330,
     "00008F"),
    ("beep/maccor/PredictionDiagnostics_000109_tztest.010", 2165, (86, 89, 4), (0.5226, 1.9378),
     2.5833, "0001BC"),
    ("beep/maccor/maccor_test_file_4267-66-6519.041", 74, (0, 0, 1), (np.nan, np.nan), np.nan,
     "4267-66-6519"),
    # 30 charge/discharge loops in one Cyc#: the capacity is the largest discharge, not the sum
    ("beep/maccor/xTESLADIAG_000019_CH70.070", 11669, (0, 2, 3), (0.1247, 3.1919), 3.1911,
     "xTESLADIAG_000019_CH70"),
    ("beep/maccor/xTESLADIAG_000038.078", 10714, (0, 23, 24), (2.2376, 3.9866), 3.9851,
     "xTESLADIAG_000038"),
    ("cellpy/misc_cyclers/maccor_001.txt", 6704, (0, 0, 1), (4.5440, 4.5440), 4.5226,
     "M50_Validation_0deg_01"),
    ("cellpy/misc_cyclers/maccor_002.txt", 7446, (1, 2, 2), (0.002251, 0.002254), 0.002442,
     "CW-SIMBA-FC-CT-NAPF6-015"),
    ("xcel_batterydatahub/maccor_example.001", 8, (0, 0, 1), (np.nan, np.nan), np.nan,
     "SET-LN3024-104-1a"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("relative", "count", "cycles", "capacity", "charge", "cell_id"),
    WHOLE_FILES,
    ids=[row[0].rsplit("/", 1)[-1] for row in WHOLE_FILES],
)
def test_whole_file_reads_to_the_contract(
    relative: str,
    count: int,
    cycles: tuple[int, int, int],
    capacity: tuple[float, float],
    charge: float,
    cell_id: str,
) -> None:
    result = _read(_real(relative))
    summary = cycles_from_records(result)
    assert (result.source_format, result.cell_id) == ("maccor_text", cell_id)
    assert len(result.frame) == count and result.quarantined.empty
    assert (summary["cycle"].min(), summary["cycle"].max(), len(summary)) == cycles
    # A cycle without a discharge has no capacity (NaN); min and max skip it.
    assert summary["capacity_ah"].min() == pytest.approx(capacity[0], abs=1e-4, nan_ok=True)
    assert summary["capacity_ah"].max() == pytest.approx(capacity[1], rel=1e-3, nan_ok=True)
    assert summary["charge_capacity_ah"].max() == pytest.approx(charge, rel=1e-3, nan_ok=True)
    assert result.frame["temperature_c"].isna().all()  # no file here names a usable temperature
    _assert_contract(result)


def test_impedance_sweep_is_refused_naming_what_is_missing() -> None:
    path = DATA / "maccor_test_file_4267-66-6519.EDA0001.041"
    reader = _reader(path)
    assert reader.name == "maccor_impedance"
    with pytest.raises(UnusableFile, match="AC-impedance .* no cycling records") as error:
        reader.read(path)
    assert (error.value.line, error.value.column) == (11, "Freq(Hz)")
    assert "Rec#" in error.value.expected


def test_sign_comes_from_the_state_in_a_signed_export() -> None:
    frame = _read(DATA / "xTESLADIAG_000038.078").frame.set_index("line")
    # line 5: "... 4.7047379263  3.56778820  C" (charge, + in Maccor's signed export)
    assert frame.loc[5, "current_a"] == pytest.approx(-4.7047379263)
    # line 155: "... -4.6999313344  4.15808347  D"
    assert frame.loc[155, "current_a"] == pytest.approx(4.6999313344)
    assert frame.loc[153, "charge_capacity_ah"] == pytest.approx(3.5549102096)  # end of charge
    assert frame.loc[155, "discharge_capacity_ah"] == pytest.approx(0.0005474447)
    assert frame.loc[155, "charge_capacity_ah"] == pytest.approx(3.5549102096)  # carried on


def test_sign_comes_from_the_state_in_an_unsigned_export() -> None:
    frame = _read(DATA / "maccor_001.txt").frame.set_index("line")
    assert frame.loc[7, "current_a"] == pytest.approx(0.50401)  # "0.50401  3.41627  D"
    assert frame.loc[7, "test_time_s"] == pytest.approx(5.05000019073486)  # "0d 00:00:5.05..."


@pytest.mark.parametrize(
    ("name", "cell_id", "channel", "start"),
    [
        ("PreDiag_000229_000229_truncated.034", "000229", 34, "12/16/2019"),  # barcode
        ("xTESLADIAG_000019_CH70.070", "xTESLADIAG_000019_CH70", 70, "07/11/2019"),  # "EXP"
        ("maccor_test_file_4267-66-6519.041", "4267-66-6519", 41, "11/02/2016"),  # empty
        ("maccor_example.001", "SET-LN3024-104-1a", 1, "03/31/2016"),  # a sentence
        ("maccor_001.txt", "M50_Validation_0deg_01", 1, "11 December 2020, 12:22:12 PM"),
        ("maccor_002.txt", "CW-SIMBA-FC-CT-NAPF6-015", 53, "5/11/2021 3:40:24 PM"),
    ],
)
def test_cell_id_is_a_barcode_or_the_original_file_name(
    name: str, cell_id: str, channel: int, start: str
) -> None:
    result = _read(DATA / name)
    assert result.cell_id == cell_id
    assert (result.metadata["channel"], result.metadata["start_time"]) == (channel, start)
    assert "nominal_capacity_ah" not in result.metadata  # no file here states one


def test_time_units_minutes_from_the_header_and_from_the_time_stamps() -> None:
    example = _read(DATA / "maccor_example.001")
    assert example.frame["test_time_s"].iloc[-1] == pytest.approx(1.1667 * 60)  # Test (Min)
    kit = _read(DATA / "maccor_002.txt")  # TestTime without unit, one record a minute
    assert kit.metadata["units"]["test_time"].startswith("min")
    assert kit.frame["test_time_s"].iloc[-1] == pytest.approx(149 * 60)
    assert kit.metadata["columns"]["cycle"] == "Cycle C"


def test_time_without_unit_or_stamps_is_refused(tmp_path: Path) -> None:
    lines = (DATA / "maccor_002.txt").read_bytes().decode("latin-1").split("\n")
    lines[13] = lines[13].replace("DPT Time", "Clock")
    path = tmp_path / "no_stamps.053"
    path.write_bytes("\n".join(lines).encode("latin-1"))
    with pytest.raises(UnusableFile, match="'TestTime' has no unit"):
        maccor.read_text(path)


def test_aux_temperatures_are_read_where_their_units_say_celsius(tmp_path: Path) -> None:
    unplugged = _read(DATA / "maccor_001.txt")  # every Aux reads about -2500 °C
    assert unplugged.frame["temperature_c"].isna().all()
    assert len(unplugged.metadata["temperature_unusable"]) == 16
    lines = (DATA / "maccor_001.txt").read_text().split("\n")
    aux = lines[3].split("\t").index("Aux #2")
    for index in range(4, len(lines) - 1):
        fields = lines[index].split("\t")
        fields[aux] = "1.5"
        lines[index] = "\t".join(fields)
    path = tmp_path / "aux.txt"
    path.write_text("\n".join(lines))
    result = maccor.read_text(path)
    assert result.metadata["temperature_column"] == "Aux #2"
    assert (result.frame["temperature_c"] == 1.5).all()


def test_damaged_rows_are_quarantined_with_their_line(tmp_path: Path) -> None:
    lines = (DATA / "xTESLADIAG_000038.078").read_text().split("\n")
    for line, column, value in ((10, 8, "abc"), (20, 1, "x1"), (30, 3, "")):
        fields = lines[line - 1].split("\t")
        fields[column] = value
        lines[line - 1] = "\t".join(fields)
    path = tmp_path / "damaged.078"
    path.write_text("\n".join(lines))
    result = maccor.read_text(path)
    assert len(result.frame) == 160 - 3
    assert result.quarantined["line"].tolist() == [10, 20, 30]
    reasons = result.quarantined["reason"].tolist()
    assert reasons[0] == "line 10: voltage_v (column 'Volts') is 'abc' (expected volts)"
    assert "cycle (column 'Cyc#') is 'x1'" in reasons[1]
    assert "test_time_s (column 'Test (Sec)') is ''" in reasons[2]
    assert result.quarantined.loc[0, "Volts"] == "abc"
    assert not result.frame["line"].isin([10, 20, 30]).any()


def test_two_records_run_together_are_quarantined_not_cut(tmp_path: Path) -> None:
    # A lost newline joins records 14 and 15 on one line: cutting it at the header's width kept
    # the first and silently lost the second.
    lines = (DATA / "xTESLADIAG_000038.078").read_text().split("\n")
    lines[13] = lines[13].rstrip("\r\t") + "\t" + lines[14]
    del lines[14]
    path = tmp_path / "joined.078"
    path.write_text("\n".join(lines))
    result = maccor.read_text(path)
    assert result.quarantined["line"].tolist() == [14]
    assert "more field(s) than the header" in result.quarantined["reason"].iloc[0]
    assert len(result.frame) == 160 - 2


def test_current_in_an_unknown_state_of_an_unsigned_export_is_quarantined(tmp_path: Path) -> None:
    lines = (DATA / "maccor_001.txt").read_text().split("\n")
    lines[6] = lines[6].replace("\tD\t", "\tX\t")  # line 7: 0.50401 A
    path = tmp_path / "state.txt"
    path.write_text("\n".join(lines))
    result = maccor.read_text(path)
    assert result.quarantined["line"].tolist() == [7]
    assert (
        "in state 'X', neither charge (C) nor discharge (D)" in result.quarantined.at[0, "reason"]
    )


def test_missing_column_makes_the_file_unusable(tmp_path: Path) -> None:
    lines = (DATA / "xTESLADIAG_000038.078").read_text().split("\n")
    lines[1] = lines[1].replace("\tVolts\t", "\tVoltz\t")
    path = tmp_path / "no_volts.078"
    path.write_text("\n".join(lines))
    with pytest.raises(UnusableFile, match="no column for voltage_v") as error:
        maccor.read_text(path)
    assert error.value.line == 2


def test_excerpts_read_like_their_whole_files() -> None:
    for path in sorted(DATA.iterdir()):
        if path.suffix == ".md" or "EDA" in path.name:
            continue
        result = _read(path)
        assert result.quarantined.empty and len(result.frame) > 0, path.name
        _assert_contract(result)


OTHER_FAMILIES = [
    "beep/arbin/2017-05-09_test-TC-contact_CH33.csv",
    "beep/arbin/FastCharge_000025_CH8_Metadata.csv",
    "beep/biologic/test_loopsnewoutput_MB_CE1_short10k.csv",
    "beep/biologic/test_loopsnewoutput_MB_CE1_short10k.mpl",
    "beep/indigo/indigo_test_sample.h5",
    "beep/novonix/test_Nova_Form-CH01-01_short.csv",
    "beep/novonix/test_Nova_Form-CH01-01_short_metadata.csv",
    "cellpy/misc_cyclers/pec.csv",
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
    for path in sorted(DATA.iterdir()):
        if path.suffix == ".md":
            continue
        claimed = [reader.name for reader in maccor.READERS if reader.detect(path, head(path))]
        expected = "maccor_impedance" if "EDA" in path.name else "maccor_text"
        assert claimed == [expected], path.name


@pytest.mark.parametrize("relative", OTHER_FAMILIES, ids=lambda r: r.rsplit("/", 1)[-1])
def test_detect_leaves_other_families_alone(relative: str) -> None:
    path = _real(relative)
    assert not any(reader.detect(path, head(path)) for reader in maccor.READERS)
    assert not any(sidecar(path, head(path)) for sidecar in maccor.SIDECARS)


def test_text_rows_keep_editor_line_numbers_past_a_latin1_0x85_byte(tmp_path: Path) -> None:
    # Latin-1 0x85 is a line break for str.splitlines(); the reader must not count it.
    text = (DATA / "maccor_example.001").read_bytes().replace(b"Comment/Barcode: ", b"\x85 ")
    path = tmp_path / "odd.001"
    path.write_bytes(text.replace(b"3.30571450", b"oops", 1))
    result = maccor.read_text(path)
    assert result.quarantined["line"].tolist() == [4]
    assert pd.api.types.is_integer_dtype(result.frame["line"])
    assert np.array_equal(result.frame["line"], [3, 5, 6, 7, 8, 9, 10])


def test_decimal_commas_are_read(tmp_path: Path) -> None:
    lines = (DATA / "maccor_example.001").read_text().split("\n")
    lines[2:] = [line.replace(".", ",") for line in lines[2:]]
    path = tmp_path / "comma.001"
    path.write_text("\n".join(lines))
    result = maccor.read_text(path)
    assert result.quarantined.empty
    assert result.frame["voltage_v"].iat[0] == pytest.approx(3.30678264)
    assert result.frame["test_time_s"].iat[-1] == pytest.approx(1.1667 * 60)


def test_a_file_without_one_readable_record_is_unusable(tmp_path: Path) -> None:
    lines = (DATA / "maccor_example.001").read_text().split("\n")
    path = tmp_path / "header_only.001"
    path.write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(UnusableFile, match="no readable record: no rows below the header"):
        maccor.read_text(path)
    path.write_text("\n".join(lines[:3]).replace("3.30678264", "volts?") + "\n")
    with pytest.raises(UnusableFile, match="line 3: voltage_v .* 'volts\\?'") as error:
        maccor.read_text(path)
    assert error.value.line == 3
