from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from batteryops import fleet_writer, schema


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
    for path in files:
        parquet = pq.ParquetFile(path)
        assert parquet.num_row_groups == 3
        frame = pd.read_parquet(path)
        assert list(frame.columns) == schema.CANONICAL_COLUMNS
        assert len(frame) == params.modules_per_rack * params.duration_s
        assert not frame.duplicated([schema.TIMESTAMP, schema.MODULE_ID]).any()
        for group in range(parquet.num_row_groups):
            part = parquet.read_row_group(group).to_pandas()
            key = part[[schema.MODULE_ID, schema.TIMESTAMP]]
            assert key.equals(key.sort_values([schema.MODULE_ID, schema.TIMESTAMP]))
        assert str(frame[schema.TIMESTAMP].dt.tz) == "UTC"
    assert list(truth.columns) == schema.TRUTH_COLUMNS
