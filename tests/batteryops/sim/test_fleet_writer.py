from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from batteryops.core import schema
from batteryops.sim import fleet_writer, simulate
from tests.batteryops.conftest import gap_seconds


def test_write_fleet_streams_one_file_per_rack_one_row_group_per_chunk(
    tmp_path, tiny_params
) -> None:
    params = tiny_params.simulate.model_copy(update={"duration_s": 2500, "chunk_s": 1000})
    seen: list[tuple[int, int]] = []
    truth = fleet_writer.write_fleet(
        params, tmp_path, lambda done, total: seen.append((done, total))
    )
    assert seen == [(1000, 2500), (2000, 2500), (2500, 2500)]
    files = sorted(tmp_path.glob("*.parquet"))
    assert [f.stem for f in files] == sorted(truth[schema.RACK_ID].unique())
    plan = simulate.plan_fleet(params)
    for rack, path in enumerate(files):
        parquet = pq.ParquetFile(path)
        assert parquet.num_row_groups == 3
        frame = pd.read_parquet(path)
        assert list(frame.columns) == schema.CANONICAL_COLUMNS
        # Every second of every module, except the logger gaps: no row invented, none lost.
        expected = params.modules_per_rack * params.duration_s - gap_seconds(plan, rack)
        assert len(frame) == expected
        assert not frame.duplicated([schema.TIMESTAMP, schema.MODULE_ID]).any()
        for group in range(parquet.num_row_groups):
            part = parquet.read_row_group(group).to_pandas()
            key = part[[schema.MODULE_ID, schema.TIMESTAMP]]
            assert key.equals(key.sort_values([schema.MODULE_ID, schema.TIMESTAMP]))
        assert str(frame[schema.TIMESTAMP].dt.tz) == "UTC"
    assert list(truth.columns) == schema.TRUTH_COLUMNS


def test_logger_csv_export_has_exact_duplicates_and_jittered_clocks(tmp_path, tiny_params) -> None:
    params = tiny_params.simulate.model_copy(update={"duration_s": 1800, "chunk_s": 900})
    params = params.model_copy(
        update={
            "imperfections": params.imperfections.model_copy(
                update={"duplicate_fraction": 0.01, "clock_jitter_ms": 200.0}
            )
        }
    )
    (tmp_path / "pq").mkdir()
    (tmp_path / "csv").mkdir()
    fleet_writer.write_fleet(params, tmp_path / "pq")
    fleet_writer.write_fleet(params, tmp_path / "csv", file_format="logger-csv")
    canonical = pd.read_parquet(tmp_path / "pq" / "R01.parquet")
    raw = pd.read_csv(tmp_path / "csv" / "R01.csv")
    duplicates = raw.duplicated().sum()
    assert len(raw) == len(canonical) + duplicates
    assert 0.005 * len(canonical) < duplicates < 0.02 * len(canonical)
    stamps = pd.to_datetime(raw.drop_duplicates()[schema.TIMESTAMP], utc=True)
    offset_ms = (stamps - stamps.dt.round("1s")).dt.total_seconds().to_numpy() * 1000
    assert np.std(offset_ms) == pytest.approx(200.0, rel=0.1)
    # The values are the canonical ones, row for row.
    deduplicated = raw.drop_duplicates().reset_index(drop=True)
    np.testing.assert_allclose(
        deduplicated["temp_max_c"].to_numpy(), canonical["temp_max_c"].to_numpy(), rtol=1e-6
    )


def test_unknown_format_is_refused(tmp_path, tiny_params) -> None:
    with pytest.raises(ValueError, match="unknown format 'xlsx'"):
        fleet_writer.write_fleet(tiny_params.simulate, tmp_path, file_format="xlsx")
