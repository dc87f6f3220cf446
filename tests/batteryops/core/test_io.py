"""batteryops.core.io: atomic outputs, JSON, Parquet partitions and declared inputs."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batteryops.core.io import (
    MissingInputError,
    atomic_dir,
    atomic_path,
    partition_files,
    read_json,
    read_partitions,
    read_rows,
    require,
    write_json,
    write_parquet,
)


class BoomError(RuntimeError):
    pass


def test_atomic_path_moves_the_file_into_place(tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["result.txt"]


def test_atomic_path_leaves_nothing_when_the_block_raises(tmp_path: Path) -> None:
    target = tmp_path / "result.txt"
    with pytest.raises(BoomError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise BoomError
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_old_file_when_the_block_raises(tmp_path: Path) -> None:
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(BoomError), atomic_path(target) as tmp:
        tmp.write_text("new")
        raise BoomError
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.txt"]


def test_atomic_dir_replaces_the_directory_whole(tmp_path: Path) -> None:
    target = tmp_path / "parts"
    target.mkdir()
    (target / "stale.parquet").write_text("old")
    with atomic_dir(target) as tmp:
        assert tmp.is_dir() and list(tmp.iterdir()) == []
        (tmp / "new.parquet").write_text("new")
        assert (target / "stale.parquet").exists()
    assert [p.name for p in target.iterdir()] == ["new.parquet"]
    assert [p.name for p in tmp_path.iterdir()] == ["parts"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


def test_atomic_dir_keeps_the_old_directory_on_exception(tmp_path: Path) -> None:
    target = tmp_path / "parts"
    target.mkdir()
    (target / "a.parquet").write_text("old")
    with pytest.raises(BoomError), atomic_dir(target) as tmp:
        (tmp / "b.parquet").write_text("half")
        raise BoomError
    assert [p.name for p in target.iterdir()] == ["a.parquet"]
    assert (target / "a.parquet").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["parts"]


def test_atomic_dir_creates_nothing_on_exception(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "parts"
    with pytest.raises(BoomError), atomic_dir(target):
        raise BoomError
    assert not target.exists()
    assert list((tmp_path / "nested").iterdir()) == []


def test_write_json_nan_becomes_null(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_json({"b": float("nan"), "a": [1.0, float("nan")], "c": {"d": (float("nan"), 2)}}, path)
    text = path.read_text()
    assert "NaN" not in text
    assert json.loads(text) == {"a": [1.0, None], "b": None, "c": {"d": [None, 2]}}
    assert text.index('"a"') < text.index('"b"')  # sorted keys
    assert text.endswith("\n")


def test_read_json_round_trip_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_json({"x": 1}, path)
    assert read_json(path) == {"x": 1}
    with pytest.raises(MissingInputError, match=re.escape(f"{tmp_path / 'no.json'}: file not")):
        read_json(tmp_path / "no.json")


def test_require_names_every_missing_path(tmp_path: Path) -> None:
    present = tmp_path / "here.txt"
    present.write_text("x")
    first, second = tmp_path / "a.parquet", tmp_path / "dir" / "b.json"
    with pytest.raises(MissingInputError) as caught:
        require(present, first, second)
    message = str(caught.value)
    assert message.startswith(f"missing input: {first}, {second} ")
    assert str(present) not in message
    assert "dvc repro" in message


def test_require_accepts_present_files_and_dirs(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    require(tmp_path, tmp_path / "f")
    require()


def test_missing_input_error_is_a_file_not_found_error() -> None:
    assert issubclass(MissingInputError, FileNotFoundError)


def test_partition_files_raises_on_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not parquet")
    with pytest.raises(MissingInputError, match=re.escape(f"{tmp_path}: no Parquet partitions")):
        partition_files(tmp_path)


def test_partition_files_raises_on_absent_dir(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="no Parquet partitions found"):
        partition_files(tmp_path / "absent")


def test_partitions_in_name_order_and_read_back(tmp_path: Path) -> None:
    write_parquet(pd.DataFrame({"x": [3, 4], "y": ["c", "d"]}), tmp_path / "R02.parquet")
    write_parquet(pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}), tmp_path / "R01.parquet")
    assert [p.name for p in partition_files(tmp_path)] == ["R01.parquet", "R02.parquet"]
    frame = read_partitions(tmp_path)
    assert frame["x"].tolist() == [1, 2, 3, 4]
    assert frame.index.tolist() == [0, 1, 2, 3]
    assert list(read_partitions(tmp_path, columns=["y"]).columns) == ["y"]


def test_read_rows_gives_chosen_string_columns_as_categoricals(tmp_path: Path) -> None:
    frame = pd.DataFrame({"module_id": ["b", "a", "b", "c"], "x": [1.0, 2.0, 3.0, 4.0]})
    write_parquet(frame, tmp_path / "R01.parquet")
    plain = read_rows(tmp_path / "R01.parquet", ["module_id", "x"], np.array([3, 0, 2]))
    coded = read_rows(
        tmp_path / "R01.parquet", ["module_id", "x"], np.array([3, 0, 2]), categorical=["module_id"]
    )
    assert isinstance(coded["module_id"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(coded.astype({"module_id": object}), plain)
    assert plain["module_id"].tolist() == ["c", "b", "b"]
