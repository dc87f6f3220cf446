"""benchmarks/physics_alarm.py: the physics alarm's thresholds from train + validation."""

from __future__ import annotations

from pathlib import Path

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.core.io import write_json
from batteryops.sim import simulate
from benchmarks import physics_alarm


def test_the_validation_modules_are_judged_as_coarser_loggers_too(
    tiny_params: Params, tmp_path: Path
) -> None:
    # The thresholds were chosen on the training modules' logger copies only: two validation
    # modules' glitches at 30 s (a glitch is a whole mean there) were never seen.
    sim = tiny_params.simulate
    plan = simulate.plan_fleet(sim)
    physics, truth = simulate.simulate_fleet(sim, plan)
    signals = simulate.sensor_readings(sim, plan, physics, truth)
    (tmp_path / "telemetry").mkdir()
    modules = []
    for rack, frame in simulate.telemetry_frames(sim, plan, signals):
        frame.to_parquet(tmp_path / "telemetry" / f"{rack}.parquet")
        modules += sorted(frame[schema.MODULE_ID].unique())
    simulate.truth_with_times(sim, truth).to_parquet(tmp_path / "truth.parquet")
    validation = set(modules[::3])
    assignment = {m: "validation" if m in validation else "train" for m in modules}
    write_json({"modules": assignment}, tmp_path / "split.json")
    paths = tiny_params.paths.model_copy(
        update={
            "telemetry_dir": str(tmp_path / "telemetry"),
            "truth": str(tmp_path / "truth.parquet"),
            "split": str(tmp_path / "split.json"),
        }
    )
    params = tiny_params.model_copy(update={"paths": paths})
    copies = physics_alarm.validation_copies(params)

    assert list(copies.columns) == physics_alarm.COLUMNS
    assert (copies[schema.SPLIT] == "validation").all()
    periods = params.featurize.logger_copies_s
    expected = {f"{m}@{p}s" for m in validation for p in periods}
    assert set(copies[schema.MODULE_ID]) == expected
    seconds = copies[schema.TIMESTAMP].astype("int64") // 10**9
    for period in periods:
        kept = seconds[copies[schema.MODULE_ID].str.endswith(f"@{period}s")]
        steps = kept.groupby(copies[schema.MODULE_ID]).diff().dropna()
        assert steps.median() == period
    assert copies[physics_alarm.SPREAD_EXCESS].notna().any()
