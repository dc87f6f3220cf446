"""batteryops.ingest.telemetry_files: a corpus of awkward exports, and what comes out."""

from __future__ import annotations

import gzip
import json
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batteryops.core import schema
from batteryops.core.config import IngestParams, Params
from batteryops.ingest import telemetry_files

START = pd.Timestamp("2026-07-01T08:00:00Z")


@pytest.fixture(scope="module")
def ingest_params(params: Params) -> IngestParams:
    return params.ingest


def _run(params: IngestParams, tmp_path: Path, *files: Path) -> tuple[pd.DataFrame, dict]:
    return telemetry_files.ingest(list(files), params, tmp_path / "quarantine")


def _expected(modules: int = 2, seconds: int = 5) -> pd.DataFrame:
    """Reference rows: what every format below must ingest to."""
    rows = []
    for m in range(modules):
        for s in range(seconds):
            rows.append(
                {
                    "timestamp": START + pd.Timedelta(seconds=s),
                    "module_id": f"R01-M{m + 1:02d}",
                    "voltage_v": 58.0 + 0.25 * s + m,
                    "current_a": -12.5 + s,
                    "temp_max_c": 25.5 + 0.5 * s + m,
                }
            )
    return pd.DataFrame(rows)


def _check(telemetry: pd.DataFrame, expected: pd.DataFrame, columns=None) -> None:
    columns = columns or ["voltage_v", "current_a", "temp_max_c"]
    got = telemetry.sort_values(["module_id", "timestamp"]).reset_index(drop=True)
    want = expected.sort_values(["module_id", "timestamp"]).reset_index(drop=True)
    assert len(got) == len(want)
    assert (got["module_id"].to_numpy() == want["module_id"].to_numpy()).all()
    pd.testing.assert_series_equal(
        got["timestamp"], want["timestamp"].astype(got["timestamp"].dtype), check_names=False
    )
    for column in columns:
        np.testing.assert_allclose(got[column], want[column], rtol=1e-5, err_msg=column)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _lines(expected: pd.DataFrame, sep: str, decimal: str = ".", stamp=None) -> list[str]:
    stamp = stamp or (lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"))
    out = []
    for row in expected.itertuples():
        values = [
            f"{v}".replace(".", decimal) for v in (row.voltage_v, row.current_a, row.temp_max_c)
        ]
        out.append(sep.join([stamp(row.timestamp), row.module_id, *values]))
    return out


# --- formats -----------------------------------------------------------------------------------


def test_plain_csv_with_canonical_names(ingest_params, tmp_path) -> None:
    expected = _expected()
    text = "timestamp,module_id,voltage_v,current_a,temp_max_c\n" + "\n".join(_lines(expected, ","))
    telemetry, summary = _run(ingest_params, tmp_path, _write(tmp_path / "a.csv", text))
    _check(telemetry, expected)
    assert summary["files_accepted"] == 1 and summary["rows_out"] == 10
    assert set(telemetry.columns) == set(schema.CANONICAL_COLUMNS)
    assert (telemetry["rack_id"] == "R01").all()


def test_tsv(ingest_params, tmp_path) -> None:
    expected = _expected()
    text = "Time\tModule ID\tVoltage (V)\tCurrent (A)\tTemp Max (°C)\n" + "\n".join(
        _lines(expected, "\t")
    )
    telemetry, _ = _run(ingest_params, tmp_path, _write(tmp_path / "a.tsv", text))
    _check(telemetry, expected)


def test_semicolon_decimal_comma_sep_line_bom_crlf_quotes(ingest_params, tmp_path) -> None:
    expected = _expected()
    lines = [
        line.replace(";R01", ';"R01').replace(";", '";', 1) if False else line
        for line in _lines(expected, ";", decimal=",")
    ]
    quoted = ['"' + line.split(";")[0] + '";' + ";".join(line.split(";")[1:]) for line in lines]
    text = "\ufeffsep=;\r\nZeit;Module;Voltage [V];Current [A];Max Temp [°C]\r\n" + "\r\n".join(
        quoted
    )
    aliases = ingest_params.model_copy(update={"aliases": {"timestamp": ["Zeit"]}})
    telemetry, summary = _run(aliases, tmp_path, _write(tmp_path / "a.csv", text))
    _check(telemetry, expected)
    assert summary["files"][0]["columns"]["Zeit"] == "timestamp"


def test_latin1_units_in_every_header_form(ingest_params, tmp_path) -> None:
    expected = _expected()
    header = "Datetime;Device;Pack Voltage (mV);Current_mA;Temperature Max [°F]"
    lines = []
    for row in expected.itertuples():
        lines.append(
            ";".join(
                [
                    row.timestamp.strftime("%Y-%m-%d %H:%M:%S+00:00"),
                    row.module_id,
                    f"{row.voltage_v * 1000:.3f}".replace(".", ","),
                    f"{row.current_a * 1000:.1f}".replace(".", ","),
                    f"{row.temp_max_c * 9 / 5 + 32:.4f}".replace(".", ","),
                ]
            )
        )
    path = _write(tmp_path / "a.csv", header + "\n" + "\n".join(lines), encoding="latin-1")
    telemetry, _ = _run(ingest_params, tmp_path, path)
    _check(telemetry, expected)


def test_kelvin_and_kilovolts(ingest_params, tmp_path) -> None:
    expected = _expected()
    lines = [
        f"{r.timestamp.isoformat()},{r.module_id},{r.voltage_v / 1000},{r.current_a},"
        f"{r.temp_max_c + 273.15}"
        for r in expected.itertuples()
    ]
    text = "timestamp,module_id,voltage_kV,current_A,temp_max_K\n" + "\n".join(lines)
    telemetry, _ = _run(ingest_params, tmp_path, _write(tmp_path / "a.csv", text))
    _check(telemetry, expected)


def test_repeated_header_and_truncated_last_line(ingest_params, tmp_path) -> None:
    expected = _expected()
    header = "timestamp,module_id,voltage_v,current_a,temp_max_c"
    lines = _lines(expected, ",")
    text = "\n".join([header, *lines[:4], header, *lines[4:], "2026-07-01T08:00:09Z,R01-M01,5"])
    telemetry, summary = _run(ingest_params, tmp_path, _write(tmp_path / "a.csv", text))
    _check(telemetry, expected)
    assert summary["rows_dropped"]["repeated_header"] == 1
    assert summary["rows_dropped"]["malformed_row"] == 1
    assert summary["files"][0]["malformed_examples"] == ["2026-07-01T08:00:09Z,R01-M01,5"]


def test_gzip_and_parquet(ingest_params, tmp_path) -> None:
    expected = _expected()
    text = "timestamp,module_id,voltage_v,current_a,temp_max_c\n" + "\n".join(_lines(expected, ","))
    gz = tmp_path / "a.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    telemetry, _ = _run(ingest_params, tmp_path, gz)
    _check(telemetry, expected)
    parquet = tmp_path / "b.parquet"
    expected.to_parquet(parquet, index=False)
    telemetry, _ = _run(ingest_params, tmp_path, parquet)
    _check(telemetry, expected)


@pytest.mark.parametrize(
    "form",
    ["offset", "epoch_s", "epoch_ms", "epoch_us", "excel", "naive_berlin"],
)
def test_timestamp_forms_become_utc(ingest_params, tmp_path, form: str) -> None:
    expected = _expected()
    params = ingest_params
    if form == "offset":
        stamp = lambda t: t.tz_convert("Asia/Kolkata").isoformat()  # noqa: E731
    elif form == "epoch_s":
        stamp = lambda t: str(int(t.timestamp()))  # noqa: E731
    elif form == "epoch_ms":
        stamp = lambda t: str(int(t.timestamp() * 1000))  # noqa: E731
    elif form == "epoch_us":
        stamp = lambda t: str(int(t.timestamp() * 1_000_000))  # noqa: E731
    elif form == "excel":
        epoch = pd.Timestamp("1899-12-30", tz="UTC")
        stamp = lambda t: repr((t - epoch) / pd.Timedelta(days=1))  # noqa: E731
    else:
        params = ingest_params.model_copy(update={"timezone": "Europe/Berlin"})
        stamp = lambda t: t.tz_convert("Europe/Berlin").strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    text = "time,module,voltage,current,temp max\n" + "\n".join(_lines(expected, ",", stamp=stamp))
    telemetry, summary = _run(params, tmp_path, _write(tmp_path / "a.csv", text))
    assert summary["rows_dropped"].get("unparseable_timestamp", 0) == 0
    _check(telemetry, expected)


def test_asset_from_rack_and_module_columns(ingest_params, tmp_path) -> None:
    expected = _expected()
    lines = [
        f"{r.timestamp.isoformat()},R01,{r.module_id.split('-')[1]},{r.voltage_v},{r.current_a},"
        f"{r.temp_max_c}"
        for r in expected.itertuples()
    ]
    text = "timestamp,Rack No,Module No,voltage_v,current_a,temp_max_c\n" + "\n".join(lines)
    prefixed = ingest_params.model_copy(update={"module_ids": "rack_prefixed"})
    telemetry, _ = _run(prefixed, tmp_path, _write(tmp_path / "a.csv", text))
    _check(telemetry, expected)


def _export(rack_modules: dict[str, list[str]]) -> str:
    """A logger export with ``Rack`` and ``Module ID`` columns, one second per module."""
    lines = ["Time,Rack,Module ID,Voltage (V),Tmax (C)"]
    for rack, modules in rack_modules.items():
        lines += [f"2026-07-01T08:00:00Z,{rack},{module},50.0,30.0" for module in modules]
    return "\n".join(lines)


def test_module_ids_unique_across_racks_are_kept_as_written(ingest_params, tmp_path) -> None:
    # A 96-module export had every id rewritten: HV-R01-M01 in rack R01 became R01-HV-R01-M01,
    # and `batteryops score` output no longer joined with the user's asset tables.
    text = _export({"R01": ["HV-R01-M01", "HV-R01-M02"], "R02": ["HV-R02-M01"]})
    telemetry, _ = _run(ingest_params, tmp_path, _write(tmp_path / "a.csv", text))
    assert sorted(telemetry["module_id"]) == ["HV-R01-M01", "HV-R01-M02", "HV-R02-M01"]
    assert telemetry.set_index("module_id")["rack_id"].to_dict()["HV-R02-M01"] == "R02"


def test_module_ids_repeated_across_racks_get_their_rack(ingest_params, tmp_path) -> None:
    # One file per rack, modules M01 and M02 in each: ids repeat, so the rack goes in front of
    # those; an id standing in one rack only (SPARE) stays as written.
    first = _write(tmp_path / "r1.csv", _export({"R01": ["M01", "M02", "SPARE"]}))
    second = _write(tmp_path / "r2.csv", _export({"R02": ["M01", "M02"]}))
    telemetry, _ = _run(ingest_params, tmp_path, first, second)
    assert sorted(telemetry["module_id"]) == ["R01-M01", "R01-M02", "R02-M01", "R02-M02", "SPARE"]


def test_module_ids_modes_can_be_forced(ingest_params, tmp_path) -> None:
    path = _write(tmp_path / "a.csv", _export({"R01": ["A1"], "R02": ["B1"]}))
    prefixed = ingest_params.model_copy(update={"module_ids": "rack_prefixed"})
    assert sorted(_run(prefixed, tmp_path, path)[0]["module_id"]) == ["R01-A1", "R02-B1"]
    repeated = _write(tmp_path / "b.csv", _export({"R01": ["M01"], "R02": ["M01"]}))
    verbatim = ingest_params.model_copy(update={"module_ids": "verbatim"})
    with pytest.raises(telemetry_files.ModuleIdError, match=r"'M01' in racks \['R01', 'R02'\]"):
        _run(verbatim, tmp_path, repeated)


# --- per asset: order, duplicates, resampling, gaps, bad values ----------------------------------


def test_duplicates_jitter_and_gaps(ingest_params, tmp_path) -> None:
    header = "timestamp,module_id,voltage_v,temp_max_c"
    rows = [
        "2026-07-01T08:00:03.000Z,R01-M01,50,30",
        "2026-07-01T08:00:00.120Z,R01-M01,50,30",  # out of order, jittered
        "2026-07-01T08:00:00.120Z,R01-M01,50,30",  # exact duplicate
        "2026-07-01T08:00:00.900Z,R01-M01,52,34",  # same second after rounding? no: 08:00:01
        "2026-07-01T08:00:01.300Z,R01-M01,54,31",  # shares second 1 with the row above: merged
        "2026-07-01T08:00:10.000Z,R01-M01,55,32",  # after a gap: seconds 4-9 stay empty
    ]
    telemetry, summary = _run(
        ingest_params, tmp_path, _write(tmp_path / "a.csv", "\n".join([header, *rows]))
    )
    seconds = (telemetry["timestamp"] - START).dt.total_seconds().tolist()
    assert seconds == [0, 1, 3, 10]
    assert summary["rows_dropped"]["duplicate_rows"] == 1
    assert summary["rows_dropped"]["merged_rows"] == 1
    merged = telemetry.iloc[1]
    assert merged["voltage_v"] == pytest.approx(53.0)  # mean
    assert merged["temp_max_c"] == pytest.approx(34.0)  # max


def test_impossible_and_non_numeric_values_are_masked_and_counted(ingest_params, tmp_path) -> None:
    header = "timestamp,module_id,voltage_v,soc_pct,temp_max_c"
    rows = [
        "2026-07-01T08:00:00Z,R01-M01,50,55,30",
        "2026-07-01T08:00:01Z,R01-M01,-5,55,30",  # negative voltage: impossible
        "2026-07-01T08:00:02Z,R01-M01,50,140,30",  # SoC over 100 %
        "2026-07-01T08:00:03Z,R01-M01,50,55,6553.5",  # sensor error code
        "2026-07-01T08:00:04Z,R01-M01,ERR,55,30",  # not a number
        "2026-07-01T08:00:05Z,R01-M01,,55,30",  # empty: missing, not counted
    ]
    telemetry, summary = _run(
        ingest_params, tmp_path, _write(tmp_path / "a.csv", "\n".join([header, *rows]))
    )
    assert len(telemetry) == 6  # no row lost for a bad value
    assert telemetry["voltage_v"].isna().tolist() == [False, True, False, False, True, True]
    assert telemetry["soc_pct"].isna().sum() == 1
    assert telemetry["temp_max_c"].isna().sum() == 1
    masked = summary["values_masked"]
    assert masked == {
        "impossible:soc_pct": 1,
        "impossible:temp_max_c": 1,
        "impossible:voltage_v": 1,
        "not_a_number:voltage_v": 1,
    }


def test_a_runaway_reading_is_kept_and_one_past_the_limit_is_masked(
    ingest_params, tmp_path
) -> None:
    # Thermal runaway reaches 600-900 C: 700 C is heat, not a glitch. Past ingest.limits
    # (physically impossible) a value is masked; the service's intake and the canonical suite
    # read the same limits (tests/batteryops/serve/test_intake.py, mlops/test_validation.py).
    low, high = ingest_params.limits["temp_max_c"]
    assert low < 700.0 < high
    rows = [
        "timestamp,module_id,temp_max_c",
        "2026-07-01T08:00:00Z,R01-M01,700",
        f"2026-07-01T08:00:01Z,R01-M01,{high + 100:g}",
    ]
    telemetry, summary = _run(ingest_params, tmp_path, _write(tmp_path / "a.csv", "\n".join(rows)))
    assert telemetry["temp_max_c"].iloc[0] == 700.0
    assert np.isnan(telemetry["temp_max_c"].iloc[1])
    assert summary["values_masked"] == {"impossible:temp_max_c": 1}


def test_unparseable_timestamp_and_missing_asset_rows_are_dropped_and_counted(
    ingest_params, tmp_path
) -> None:
    header = "timestamp,module_id,voltage_v"
    rows = [
        "2026-07-01T08:00:00Z,R01-M01,50",
        "yesterday,R01-M01,50",
        "2026-07-01T08:00:02Z,,50",
        "2026-07-01T08:00:03Z,R01-M01,51",
    ]
    telemetry, summary = _run(
        ingest_params, tmp_path, _write(tmp_path / "a.csv", "\n".join([header, *rows]))
    )
    assert len(telemetry) == 2
    assert summary["rows_dropped"]["unparseable_timestamp"] == 1
    assert summary["rows_dropped"]["missing_asset"] == 1
    assert summary["rows_in"] == 4


# --- quarantine ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("foo,bar\n1,2\n", "no timestamp column"),
        ("timestamp,voltage_v\n2026-07-01T08:00:00Z,50\n", "no asset column"),
        ("", "empty file"),
        ("timestamp,module_id\n", "no data rows"),
        ("timestamp,module_id\nnever,R01\n", "no row with a parseable timestamp"),
    ],
)
def test_unusable_files_are_quarantined_with_a_reason(
    ingest_params, tmp_path, content: str, reason: str
) -> None:
    good = _write(
        tmp_path / "good.csv",
        "timestamp,module_id,voltage_v\n2026-07-01T08:00:00Z,R01-M01,50\n",
    )
    bad = _write(tmp_path / "bad file (1).csv", content)
    telemetry, summary = _run(ingest_params, tmp_path, good, bad)
    assert len(telemetry) == 1  # the run goes on with the good file
    assert summary["files_rejected"] == 1
    quarantined = sorted((tmp_path / "quarantine").iterdir())
    assert [p.name for p in quarantined] == [
        "001_bad_file__1_.csv",
        "001_bad_file__1_.csv.reason.json",
    ]
    why = json.loads(quarantined[1].read_text())
    assert reason in why["reason"]
    assert why["file"] == str(bad) and why["expected"]


def test_binary_file_is_quarantined(ingest_params, tmp_path) -> None:
    path = tmp_path / "blob.csv"
    path.write_bytes(bytes(range(256)) * 10)
    _, summary = _run(ingest_params, tmp_path, path)
    assert summary["files"][0]["reason"]["reason"].startswith("binary content")


def test_a_huge_line_is_quarantined_not_read_into_memory(ingest_params, tmp_path) -> None:
    small_blocks = ingest_params.model_copy(update={"block_size_mb": 0.25})
    path = tmp_path / "huge.csv"
    with path.open("w") as handle:
        handle.write("timestamp,module_id,voltage_v\n2026-07-01T08:00:00Z,R01-M01,")
        handle.write("9" * 2_000_000)
        handle.write("\n")
    _, summary = _run(small_blocks, tmp_path, path)
    assert summary["files_rejected"] == 1
    assert "longer than the read block" in summary["files"][0]["reason"]["reason"]


def test_directories_are_walked_without_following_links(ingest_params, tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    _write(outside / "secret.csv", "timestamp,module_id,voltage_v\n2026-07-01T08:00:00Z,X-1,1\n")
    raw = tmp_path / "raw"
    (raw / "day1").mkdir(parents=True)
    _write(
        raw / "day1" / "a.csv", "timestamp,module_id,voltage_v\n2026-07-01T08:00:00Z,R01-M01,50\n"
    )
    (raw / "link.csv").symlink_to(outside / "secret.csv")
    (raw / "notes.md").write_text("not data")
    telemetry, summary = _run(ingest_params, tmp_path, raw)
    assert telemetry["module_id"].tolist() == ["R01-M01"]
    assert summary["files_accepted"] == 1 and summary["files_rejected"] == 0


def test_missing_input_is_named(ingest_params, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        _run(ingest_params, tmp_path, tmp_path / "nowhere.csv")


# --- properties ----------------------------------------------------------------------------------

_values = st.floats(min_value=-1000, max_value=1000, allow_nan=False).map(lambda v: round(v, 3))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 600), _values), min_size=1, max_size=40
    ),
    sep=st.sampled_from([",", ";", "\t", "|"]),
    crlf=st.booleans(),
    bom=st.booleans(),
)
def test_never_loses_a_valid_row(ingest_params, tmp_path_factory, rows, sep, crlf, bom) -> None:
    tmp_path = tmp_path_factory.mktemp("prop")
    # One value per (module, second): each is a valid row and must come out unchanged.
    unique = {(m, s): v for m, s, v in rows}
    newline = "\r\n" if crlf else "\n"
    lines = [sep.join(["timestamp", "module_id", "current_a"])]
    for (m, s), v in unique.items():
        stamp = (START + pd.Timedelta(seconds=s)).isoformat()
        lines.append(sep.join([stamp, f"R02-M{m:02d}", repr(v)]))
    text = ("\ufeff" if bom else "") + newline.join(lines) + newline
    telemetry, summary = _run(ingest_params, tmp_path, _write(tmp_path / "p.csv", text))
    assert summary["rows_out"] == len(unique)
    got = {
        (int(r.module_id[-2:]), int((r.timestamp - START).total_seconds())): r.current_a
        for r in telemetry.itertuples()
    }
    assert got.keys() == unique.keys()
    for key, value in unique.items():
        assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-3)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    junk=st.binary(max_size=2000) | st.text(alphabet=string.printable + "°äé\ufeff", max_size=2000)
)
def test_never_crashes_on_junk(ingest_params, tmp_path_factory, junk) -> None:
    tmp_path = tmp_path_factory.mktemp("junk")
    path = tmp_path / "junk.csv"
    header = b"timestamp,module_id,voltage_v\n2026-07-01T08:00:00Z,R01-M01,50\n"
    path.write_bytes(header + (junk if isinstance(junk, bytes) else junk.encode("utf-8")))
    telemetry, summary = _run(ingest_params, tmp_path, path)
    assert summary["files_accepted"] + summary["files_rejected"] == 1
    if summary["files_accepted"]:
        assert len(telemetry) >= 1  # the valid first row survives whatever follows it


def test_files_sharing_a_module_are_merged_across_files(ingest_params, tmp_path) -> None:
    header = "timestamp,module_id,voltage_v,temp_max_c\n"
    first = _write(
        tmp_path / "day1.csv",
        header
        + "2026-07-01T08:00:00Z,R01-M02,50,30\n"
        + "2026-07-01T08:00:01Z,R01-M02,51,30\n"
        + "2026-07-01T08:00:00Z,R01-M01,40,20\n",
    )
    second = _write(
        tmp_path / "day1_again.csv",
        header
        + "2026-07-01T08:00:01Z,R01-M02,51,30\n"  # exact duplicate of a row in day1.csv
        + "2026-07-01T08:00:02Z,R01-M02,53,31\n"
        + "2026-07-01T08:00:00.2Z,R01-M01,42,25\n",  # same second as day1's: merged
    )
    telemetry, summary = _run(ingest_params, tmp_path, first, second)
    assert telemetry["module_id"].tolist() == ["R01-M01", "R01-M02", "R01-M02", "R01-M02"]
    assert (telemetry["timestamp"] - START).dt.total_seconds().tolist() == [0, 0, 1, 2]
    assert summary["rows_dropped"]["duplicate_rows"] == 1
    assert summary["rows_dropped"]["merged_rows"] == 1
    assert telemetry.iloc[0]["voltage_v"] == pytest.approx(41.0)
    assert telemetry.iloc[0]["temp_max_c"] == pytest.approx(25.0)


def test_files_with_separate_modules_are_joined_in_module_order(ingest_params, tmp_path) -> None:
    header = "timestamp,module_id,voltage_v\n"
    b = _write(tmp_path / "a.csv", header + "2026-07-01T08:00:00Z,R02-M01,50\n")
    a = _write(tmp_path / "b.csv", header + "2026-07-01T08:00:00Z,R01-M01,40\n")
    telemetry, _ = _run(ingest_params, tmp_path, b, a)
    assert telemetry["module_id"].tolist() == ["R01-M01", "R02-M01"]
    assert telemetry["rack_id"].tolist() == ["R01", "R02"]
