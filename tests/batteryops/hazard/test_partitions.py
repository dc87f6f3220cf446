"""batteryops.hazard.partitions with batteryops.core.compute: the same files wherever spans run.

The tiny fleet's racks (9,000 s) are cut into hour spans and featurized one after another in this
process, then on a 2-worker Dask ``LocalCluster`` of threads and of worker processes (the
functions, frames and observer states pickled to them): every features and logger-copy file must
be byte-identical. The spans' rows put together are the rows of the whole rack featurized at once,
with the same thermal observer features (its state carried from span to span).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batteryops.core.compute import partitions_runner
from batteryops.core.config import ComputeParams, Params
from batteryops.hazard import features, labels, split
from batteryops.hazard.observer import NAMES as OBSERVER
from batteryops.hazard.partitions import PartitionCounts, Span, featurize_partition, rack_spans
from batteryops.sim import simulate
from tests.batteryops.conftest import TinyFleet

SPAN_S = 3600


@pytest.fixture(scope="module")
def racks(tiny_fleet: TinyFleet, tiny_params: Params, tmp_path_factory) -> tuple[list[Path], dict]:
    folder = tmp_path_factory.mktemp("telemetry")
    files = []
    for rack, frame in tiny_fleet.frames.items():
        frame.to_parquet(folder / f"{rack}.parquet", index=False)
        files.append(folder / f"{rack}.parquet")
    truth = simulate.truth_with_times(tiny_params.simulate, tiny_fleet.truth)
    shared = {
        "truth": truth,
        "assignment": split.assign_splits(truth, tiny_params.featurize.split),
        "featurize": tiny_params.featurize,
        "label": tiny_params.label,
    }
    return sorted(files), shared


def _run(compute: ComputeParams, racks: tuple[list[Path], dict], out: Path) -> dict[str, str]:
    files, shared = racks
    (out / "features").mkdir(parents=True)
    (out / "copies").mkdir()
    chains = [rack_spans(path, SPAN_S) for path in files]
    with partitions_runner(compute) as runner:
        counts = runner.chain(
            featurize_partition,
            chains,
            **shared,
            features_dir=out / "features",
            copies_dir=out / "copies",
        )
    assert [type(c) for c in counts] == [PartitionCounts] * sum(len(c) for c in chains)
    assert all(c.rows > 0 for c in counts)
    return {
        str(path.relative_to(out)): hashlib.md5(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def in_process_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("one")


@pytest.fixture(scope="module")
def in_process(racks, in_process_dir: Path) -> dict[str, str]:
    return _run(ComputeParams(threads=1), racks, in_process_dir)


def test_a_rack_is_cut_into_aligned_spans(racks) -> None:
    files, _ = racks
    spans = rack_spans(files[0], SPAN_S)
    stamps = pd.read_parquet(files[0], columns=["timestamp"])["timestamp"]
    assert len(spans) >= 3
    assert all(s.start_s % SPAN_S == 0 and s.end_s - s.start_s == SPAN_S for s in spans)
    assert spans[0].start_s <= stamps.min().timestamp() < spans[0].end_s
    assert spans[-1].start_s <= stamps.max().timestamp() < spans[-1].end_s
    assert [s.name for s in spans] == sorted(s.name for s in spans)


def test_each_span_writes_whole_files_only(in_process: dict[str, str], racks) -> None:
    files, _ = racks
    written = {name.split("/")[1].split(".")[0] for name in in_process if name.startswith("feat")}
    assert written == {f.stem for f in files}
    assert any(name.startswith("copies/") for name in in_process)
    assert not any(".partial" in name for name in in_process)


def test_the_spans_put_together_are_the_whole_rack_featurized(
    in_process: dict[str, str], racks, in_process_dir: Path
) -> None:
    files, shared = racks
    folder = in_process_dir / "features"
    spans = pd.concat(
        [pd.read_parquet(p) for p in sorted(folder.glob(f"{files[0].stem}.*.parquet"))],
        ignore_index=True,
    )
    labelled = labels.label_rack(pd.read_parquet(files[0]), shared["truth"], shared["label"])
    whole = features.featurize_rack(labelled, shared["featurize"])
    key = ["module_id", "timestamp"]
    spans = spans.sort_values(key).reset_index(drop=True)
    whole = whole.sort_values(key).reset_index(drop=True)
    assert len(spans) == len(whole)
    pd.testing.assert_frame_equal(spans[key], whole[key].astype(spans[key].dtypes.to_dict()))
    for name in [*labels.ROW_COLUMNS[4:], *OBSERVER]:  # labels and the observer: exactly
        np.testing.assert_array_equal(spans[name].to_numpy(), whole[name].to_numpy(), name)
    for name in features.feature_names(shared["featurize"]):
        np.testing.assert_allclose(spans[name], whole[name], rtol=1e-3, atol=1e-4, err_msg=name)


def test_racks_on_threads_of_the_stage_write_the_same_bytes(
    in_process: dict[str, str], racks, tmp_path: Path
) -> None:
    assert _run(ComputeParams(threads=2), racks, tmp_path) == in_process


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_a_two_worker_dask_cluster_writes_the_same_bytes(
    in_process: dict[str, str], racks, tmp_path: Path, processes: bool
) -> None:
    compute = ComputeParams(cluster="local", workers=2, processes=processes)
    assert _run(compute, racks, tmp_path) == in_process


def test_a_partition_run_again_replaces_its_files_whole(
    in_process: dict[str, str], racks, tmp_path: Path
) -> None:
    # A lost Dask worker's task runs again: the second run leaves the same, whole files.
    files, shared = racks
    (tmp_path / "features").mkdir()
    (tmp_path / "copies").mkdir()
    first: Span = rack_spans(files[0], SPAN_S)[0]
    for _ in range(2):
        featurize_partition(
            first,
            None,
            **shared,
            features_dir=tmp_path / "features",
            copies_dir=tmp_path / "copies",
        )
    name = f"{first.name}.parquet"
    assert len(pd.read_parquet(tmp_path / "features" / name))
    assert not list(tmp_path.rglob(".*.partial"))
    digest = hashlib.md5((tmp_path / "features" / name).read_bytes()).hexdigest()
    assert digest == in_process[f"features/{name}"]


WARM_CHECK = """
import sys
from pathlib import Path
import pandas as pd
from batteryops.core.config import load_params
from batteryops.hazard import feature_kernels, observer, spread_baseline
from batteryops.hazard.partitions import featurize_partition, rack_spans
from batteryops.hazard.warm import warm

def kernels():
    return {
        f"{module.__name__}.{name}": kernel
        for module in (feature_kernels, observer, spread_baseline)
        for name, kernel in vars(module).items()
        if hasattr(kernel, "stats") and getattr(kernel, "__module__", "") == module.__name__
    }

params = load_params()
if sys.argv[1] == "warm":
    warm(params)
    sys.exit(0)
rack, truth, out = Path(sys.argv[2]), pd.read_parquet(sys.argv[3]), Path(sys.argv[4])
modules = {m: "train" for m in truth["module_id"]}
carried = None
for span in rack_spans(rack, 3600):
    _, carried = featurize_partition(
        span, carried, truth, modules, params.featurize, params.label, out, out
    )
missed = {name: dict(k.stats.cache_misses) for name, k in kernels().items() if k.stats.cache_misses}
assert not missed, missed
print(sum(len(k.signatures) for k in kernels().values()))
"""


def test_the_kernel_warm_up_compiles_every_signature_a_real_rack_needs(
    racks, tmp_path: Path
) -> None:
    # `make run` compiles featurize's kernels into numba's cache beside its first stages
    # (batteryops.hazard.warm, on a synthetic rack). A later process featurizing a simulated
    # rack must then find every kernel signature it uses in the cache (no cache miss: a missed
    # signature, a kernel not cached or a cache not written would each compile again).
    import subprocess
    import sys

    files, shared = racks
    truth = tmp_path / "truth.parquet"
    shared["truth"].to_parquet(truth)

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-c", WARM_CHECK, *args],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[3],
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    run("warm")
    featurized = run("featurize", str(files[0]), str(truth), str(tmp_path))
    assert int(featurized.stdout.split()[-1]) >= 10  # the kernels it loaded (all of them)
