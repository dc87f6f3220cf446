"""benchmarks/thermal_real_cells.py on small excerpts of the real data (tests/data/thermal)."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "thermal"
SAMSUNG_FILE = DATA / "Q30_synthetic_4C_300rows.csv"
BITRODE_FILE = DATA / "3C-Discharge-Bitrode-data_first100.csv"
LVM_FILE = DATA / "Temperature-3C-discharge_first300.lvm"


def _load_script():
    path = ROOT / "benchmarks" / "thermal_real_cells.py"
    spec = importlib.util.spec_from_file_location("thermal_real_cells", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


trc = _load_script()


@pytest.fixture(scope="module")
def samsung():
    return trc.samsung_discharge(SAMSUNG_FILE, "S001", "4C")


@pytest.fixture(scope="module")
def linear_ocv():
    soc = np.linspace(0.0, 1.0, 101)
    return trc.OcvSource(
        soc=soc,
        volt=3.2 + 1.0 * soc,
        current_a=0.3,
        temp_c=np.full(101, 22.0),
        capacity_ah=3.0,
    )


@pytest.fixture(scope="module")
def truth():
    return trc.FitParams(0.030, 0.010, 30.0, 1200.0, 0.3, -0.1, 90.0, 0.04)


def test_samsung_excerpt_parses_to_a_1s_discharge(samsung) -> None:
    assert len(samsung.current_a) == 299  # 299 s logged after the rest sample at 0 s
    assert samsung.current_a[0] == pytest.approx(11.94, abs=0.01)  # discharge counts positive
    assert np.all(samsung.current_a > 11.5)
    assert samsung.initial_temp_c == pytest.approx(23.118655)
    assert samsung.temp_time_s[0] == pytest.approx(1.001783)
    assert samsung.temp_c[-1] > samsung.initial_temp_c + 5.0  # heats up at 4C
    assert samsung.volt_weight_s.sum() == pytest.approx(samsung.volt_time_s[-1])
    assert samsung.ambient_c.shape == samsung.current_a.shape


def test_leaf_excerpt_aligns_thermocouples_with_the_bitrode_clock() -> None:
    bitrode, lvm = trc.read_bitrode(BITRODE_FILE), trc.read_lvm(LVM_FILE)
    assert lvm.shape == (300, 4)
    run = trc.leaf_discharge(bitrode, lvm, "3C")
    # The discharge starts at 0 s; the window ends where the .lvm does (299 x 3 s).
    assert len(run.current_a) == 897
    assert np.allclose(run.current_a, 91.8, atol=0.02)
    assert run.initial_temp_c == pytest.approx(lvm[0, 1])
    assert np.allclose(np.diff(run.temp_time_s), 3.0)
    assert run.temp_c[-1] == pytest.approx(lvm[-1, 1])
    assert run.volt_time_s[0] == pytest.approx(1.0) and run.volt_time_s[-1] <= 897
    assert run.volt_weight_s.sum() == pytest.approx(run.volt_time_s[-1])
    assert run.rest_v.size == 0  # the rest starts after the .lvm excerpt ends


def test_leaf_window_runs_on_through_the_rest_after_the_discharge() -> None:
    times = np.arange(1.0, 41.0)
    mode = ["REST"] * 5 + ["DCHG"] * 20 + ["REST"] * 10 + ["CHRG"] * 5
    current = np.where(np.array(mode) == "DCHG", -10.0, 0.0)
    frame = pd.DataFrame(
        {"time_s": times, "step": 1, "current_a": current, "voltage_v": 3.7, "mode": mode}
    )
    assert trc.leaf_window(frame) == (5.0, 35.0, 24)
    run = trc.leaf_discharge(frame, np.full((40, 4), 25.0), "x")
    assert len(run.current_a) == 30
    assert list(run.current_a[:20]) == [10.0] * 20 and list(run.current_a[20:]) == [0.0] * 10
    assert run.rest_time_s[0] == pytest.approx(21.0) and run.rest_v.size == 10


def test_leaf_ocv_takes_the_rests_and_the_relaxed_end_of_the_hppc() -> None:
    rows = []  # (duration s, current A, end voltage V, mode)
    rows += [(60, 10.0, 4.20, "CHRG"), (3600, 0.0, 4.18, "REST")]
    rows += [(1080, -10.0, 3.90, "DCHG"), (3600, 0.0, 3.95, "REST")]
    rows += [(1080, -10.0, 3.40, "DCHG"), (3600, 0.0, 3.50, "REST")]
    rows += [(540, -10.0, 3.00, "DCHG")]
    t, records = 0.0, []
    for step, (duration, current, volt, mode) in enumerate(rows):
        for k in range(1, duration + 1):
            t += 1.0
            records.append((t, step, current, volt if k == duration else volt + 0.01, mode))
    frame = pd.DataFrame(records, columns=["time_s", "step", "current_a", "voltage_v", "mode"])
    source = trc.leaf_ocv(frame)
    assert source.capacity_ah == pytest.approx((1080 + 1080 + 540) * 10.0 / 3600.0)
    assert list(source.volt) == pytest.approx([3.00 + 0.10, 3.50, 3.95, 4.18])
    assert list(source.soc) == pytest.approx([0.0, 1.0 - 6.0 / 7.5, 1.0 - 3.0 / 7.5, 1.0])


def test_fast_loop_is_the_projects_cell_model(samsung, linear_ocv, truth) -> None:
    table = trc.ocv_table(linear_ocv, trc.ocv_base(linear_ocv), truth)
    fast_v, fast_t = trc.simulate_fast(truth, samsung, table, linear_ocv.capacity_ah)
    proj_v, proj_t = trc.simulate_project(truth, samsung, table, linear_ocv.capacity_ah)
    assert np.allclose(fast_v, proj_v, rtol=0, atol=1e-9)
    assert np.allclose(fast_t, proj_t, rtol=0, atol=1e-9)
    assert fast_t[-1] > fast_t[0]


def test_ocv_from_a_loaded_curve_is_raised_by_the_models_dc_drop(linear_ocv, truth) -> None:
    base = trc.ocv_base(linear_ocv)
    table = trc.ocv_table(linear_ocv, base, truth)
    mid = np.argmin(np.abs(trc.SOC_GRID - 0.5))
    assert table[mid] - base[mid] == pytest.approx(0.3 * (0.030 + 0.010), rel=0.1)
    assert trc.ocv_table(replace(linear_ocv, current_a=0.0), base, truth) is base


def test_fit_recovers_a_known_cell_from_its_own_simulation(samsung, linear_ocv, truth) -> None:
    table = trc.ocv_table(linear_ocv, trc.ocv_base(linear_ocv), truth)
    volts, temps = trc.simulate_fast(truth, samsung, table, linear_ocv.capacity_ah)
    measured = replace(
        samsung,
        volt_v=trc.at_times(volts, volts[0], samsung.volt_time_s),
        temp_c=trc.at_times(temps, samsung.initial_temp_c, samsung.temp_time_s),
    )
    spec = replace(trc.SPECS["S001"], name="synthetic", fit_rate="4C")
    fitted = trc.fit(measured, linear_ocv, spec, max_nfev=200)
    table_fit = trc.ocv_table(linear_ocv, trc.ocv_base(linear_ocv), fitted)
    out = trc.errors(measured, *trc.simulate_fast(fitted, measured, table_fit, 3.0))
    assert out["v_rmse_mv"] < 1.0 and out["t_rmse_c"] < 0.02
    assert fitted.r0_ohm + fitted.r1_ohm == pytest.approx(0.040, rel=0.1)


def test_evaluate_and_print_on_the_excerpt(samsung, linear_ocv, capsys) -> None:
    half = replace(
        samsung,
        rate="2C",
        current_a=samsung.current_a / 2,
        temp_time_s=samsung.temp_time_s[:150],
        temp_c=samsung.temp_c[:150],
        volt_time_s=samsung.volt_time_s[:150],
        volt_v=samsung.volt_v[:150] + 0.15,
        volt_weight_s=samsung.volt_weight_s[:150],
    )
    spec = replace(trc.SPECS["S001"], fit_rate="4C")
    result = trc.evaluate_cell(spec, {"2C": half, "4C": samsung}, linear_ocv)
    assert [r["role"] for r in result["rows"]] == ["predicted", "fitted"]
    assert set(result["rows"][0]["excess_heat_per_amp_mv"]) == set(trc.BAND_NAMES)
    trc.print_table([result])
    trc.print_params(
        [result],
        {
            "r0_ohm": 0.02,
            "r1_ohm": 0.01,
            "r2_ohm": 0.01,
            "heat_share": 0.8,
            "capacity_ah": 5.0,
            "activation_k": 700.0,
        },
    )
    trc.print_excess([result])
    assert result["rate_excess_mv"] == {}  # two rates: nothing above them
    trc.print_rate_excess([result])
    trc.print_verdicts([result])
    printed = capsys.readouterr().out
    assert "S001" in printed and "held-out 2C" in printed and "MET" in printed
    text = json.dumps(trc.json_safe({"cells": [result]}), allow_nan=False)
    assert json.loads(text)["cells"][0]["rows"][0]["rest_v_rmse_mv"] is None


def test_missing_data_folder_exits_with_2_and_names_it(tmp_path, capsys) -> None:
    absent = tmp_path / "no-such-folder"
    assert trc.main(["--data", str(absent)]) == 2
    err = capsys.readouterr().err
    assert str(absent) in err and "not found" in err


def test_heat_loss_is_free_convection_referred_to_10_k() -> None:
    conductance = 0.04
    assert trc.heat_loss_w(conductance, 35.0, 25.0) == pytest.approx(0.4)
    # h grows as dT^1/4: at 16 x the excess the loss is 16 x 2 = 32 x larger.
    assert trc.heat_loss_w(conductance, 185.0, 25.0) == pytest.approx(0.4 * 32.0)
    assert trc.heat_loss_w(conductance, 15.0, 25.0) == pytest.approx(-0.4)
    assert trc.heat_loss_w(conductance, 25.0, 25.0) == 0.0


def _constant_discharge(rate: str, amps: float, drop) -> object:  # noqa: ANN001
    """A full constant-current discharge of a 3 Ah cell on the linear OCV, minus ``drop(I)``."""
    steps = int(0.95 * 3.0 * 3600.0 / amps)
    times = np.arange(1, steps + 1, dtype=float)
    soc = 1.0 - amps * times / (3.0 * 3600.0)
    empty = np.array([])
    return trc.Discharge(
        cell="synthetic",
        rate=rate,
        current_a=np.full(steps, amps),
        ambient_c=np.full(steps, 22.0),
        initial_temp_c=22.0,
        temp_time_s=times,
        temp_c=np.full(steps, 22.0),
        volt_time_s=times,
        volt_v=3.2 + soc + 0.02 - drop(amps),  # an OCV curve 20 mV off, everywhere
        volt_weight_s=np.ones(steps),
        rest_time_s=empty,
        rest_v=empty,
    )


def test_rate_excess_is_nothing_for_a_linear_circuit_and_shows_a_square_term(
    linear_ocv,
) -> None:
    for square, expected_mv in ((0.0, 0.0), (0.002, 36.0)):
        runs = {
            rate: _constant_discharge(rate, amps, lambda i: 0.03 * i + square * i * i)  # noqa: B023
            for rate, amps in (("1C", 3.0), ("2C", 6.0), ("3C", 9.0))
        }
        excess = trc.rate_excess_mv(runs, linear_ocv)
        assert list(excess) == ["3C"]
        assert excess["3C"] == pytest.approx([expected_mv] * 5, abs=0.5)
