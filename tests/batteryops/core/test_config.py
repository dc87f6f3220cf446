"""batteryops.core.config: params.yaml validation and its error messages."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from batteryops.core.config import (
    DEFAULT_CYCLE_LIMITS,
    AlarmParams,
    LabelParams,
    Params,
    ParamsError,
    load_params,
    parse_params,
)
from tests.conftest import ROOT, deep_merge


def _renamed(raw: dict[str, Any], section: str | None, old: str, new: str) -> dict[str, Any]:
    """A copy of ``raw`` with key ``old`` of ``section`` (top level when None) renamed."""
    changed = copy.deepcopy(raw)
    target = changed if section is None else changed[section]
    target[new] = target.pop(old)
    return changed


def test_project_params_parse(params: Params) -> None:
    assert params.source == "simulated"
    assert params.label.guard_s < params.label.prediction_window_s
    assert params.alarm.persistence_k <= params.alarm.persistence_n
    assert params.validate_.suite == "canonical_telemetry"


def test_load_params_reads_the_project_file() -> None:
    loaded = load_params(ROOT / "params.yaml")
    assert (
        loaded.simulate.seed
        == yaml.safe_load((ROOT / "params.yaml").read_text())["simulate"]["seed"]
    )


def test_params_are_frozen(params: Params) -> None:
    with pytest.raises(ValueError, match="frozen"):
        params.label.guard_s = 1  # type: ignore[misc]


def test_misspelled_nested_key_names_key_and_nearest(raw_params: dict[str, Any]) -> None:
    raw = _renamed(raw_params, "label", "guard_s", "guard")
    with pytest.raises(ParamsError, match=r"unknown key 'label\.guard'; did you mean 'guard_s'"):
        parse_params(raw)


def test_misspelled_key_also_reports_the_missing_one(raw_params: dict[str, Any]) -> None:
    raw = _renamed(raw_params, "label", "guard_s", "guard")
    with pytest.raises(ParamsError) as caught:
        parse_params(raw)
    assert "missing key 'label.guard_s'" in str(caught.value)


def test_misspelled_top_level_section(raw_params: dict[str, Any]) -> None:
    raw = _renamed(raw_params, None, "simulate", "simulte")
    with pytest.raises(ParamsError, match=r"unknown key 'simulte'; did you mean 'simulate'"):
        parse_params(raw)


def test_misspelled_key_in_aliased_section(raw_params: dict[str, Any]) -> None:
    raw = _renamed(raw_params, "validate", "suite", "suit")
    with pytest.raises(ParamsError, match=r"unknown key 'validate\.suit'; did you mean 'suite'"):
        parse_params(raw)


def test_misspelled_deeply_nested_key(raw_params: dict[str, Any]) -> None:
    raw = copy.deepcopy(raw_params)
    raw["simulate"]["faults"]["internal_shrt"] = raw["simulate"]["faults"].pop("internal_short")
    with pytest.raises(
        ParamsError,
        match=r"unknown key 'simulate\.faults\.internal_shrt'; did you mean 'internal_short'",
    ):
        parse_params(raw)


def test_unrelated_unknown_key_has_no_suggestion(raw_params: dict[str, Any]) -> None:
    raw = deep_merge(raw_params, {"label": {"zzzzzz": 1}})
    with pytest.raises(ParamsError) as caught:
        parse_params(raw)
    message = str(caught.value)
    assert "unknown key 'label.zzzzzz'" in message
    assert "did you mean" not in message


def test_message_names_the_source_file(raw_params: dict[str, Any]) -> None:
    raw = deep_merge(raw_params, {"label": {"guard": 1}})
    with pytest.raises(ParamsError, match=r"^custom\.yaml: invalid parameters"):
        parse_params(raw, source="custom.yaml")


@pytest.mark.parametrize("name", ["slope_windows_s", "rolling_windows_s"])
def test_negative_window_fails_naming_the_key(raw_params: dict[str, Any], name: str) -> None:
    raw = deep_merge(raw_params, {"featurize": {name: [-10]}})
    with pytest.raises(
        ParamsError, match=rf"featurize\.{name} must hold positive seconds, got -10"
    ):
        parse_params(raw)


def test_zero_window_fails(raw_params: dict[str, Any]) -> None:
    raw = deep_merge(raw_params, {"featurize": {"slope_windows_s": [10, 0]}})
    with pytest.raises(ParamsError, match=r"featurize\.slope_windows_s .* got 0"):
        parse_params(raw)


def test_empty_window_list_fails(raw_params: dict[str, Any]) -> None:
    raw = deep_merge(raw_params, {"featurize": {"rolling_windows_s": []}})
    with pytest.raises(ParamsError, match=r"'featurize\.rolling_windows_s'"):
        parse_params(raw)


@pytest.mark.parametrize("guard_s", [2400, 5000])
def test_guard_not_shorter_than_window_fails(raw_params: dict[str, Any], guard_s: int) -> None:
    raw = deep_merge(raw_params, {"label": {"guard_s": guard_s, "prediction_window_s": 2400}})
    with pytest.raises(
        ParamsError, match=rf"label\.guard_s \({guard_s}\) must be shorter than label\.prediction"
    ):
        parse_params(raw)


def test_label_params_direct_construction_checks_guard() -> None:
    with pytest.raises(ValueError, match=r"label\.guard_s \(10\) must be shorter"):
        LabelParams(
            prediction_window_s=10,
            guard_s=10,
            overheat_threshold_c=60.0,
            overheat_horizon_s=10,
            delta_t_horizon_s=5,
            delta_t_median_s=1,
        )


def test_persistence_k_above_n_fails(raw_params: dict[str, Any]) -> None:
    raw = deep_merge(raw_params, {"alarm": {"persistence_k": 11, "persistence_n": 10}})
    with pytest.raises(
        ParamsError, match=r"alarm\.persistence_k \(11\) cannot exceed alarm\.persistence_n \(10\)"
    ):
        parse_params(raw)


def test_persistence_k_equal_n_is_fine(params: Params) -> None:
    alarm = AlarmParams(**(params.alarm.model_dump() | {"persistence_k": 5, "persistence_n": 5}))
    assert alarm.persistence_k == alarm.persistence_n == 5


def test_out_of_range_value_names_key_and_value(raw_params: dict[str, Any]) -> None:
    raw = deep_merge(raw_params, {"simulate": {"racks": 0}})
    with pytest.raises(ParamsError, match=r"'simulate\.racks': .*greater than 0 \(got 0\)"):
        parse_params(raw)


def test_split_fractions_must_leave_training(raw_params: dict[str, Any]) -> None:
    raw = deep_merge(
        raw_params, {"featurize": {"split": {"validation_fraction": 0.5, "test_fraction": 0.45}}}
    )
    with pytest.raises(ParamsError, match=r"must stay below 0\.9"):
        parse_params(raw)


def test_unknown_source_fails(raw_params: dict[str, Any]) -> None:
    raw = deep_merge(raw_params, {"source": "ftp"})
    with pytest.raises(ParamsError, match=r"'source'"):
        parse_params(raw)


@pytest.mark.parametrize("source", ["simulated", "files", "both"])
def test_sources(raw_params: dict[str, Any], source: str) -> None:
    assert parse_params(deep_merge(raw_params, {"source": source})).source == source


def test_ingest_timezone_and_names_are_checked(raw_params: dict[str, Any]) -> None:
    with pytest.raises(ParamsError, match="unknown time zone 'Mars/Olympus'"):
        parse_params(deep_merge(raw_params, {"ingest": {"timezone": "Mars/Olympus"}}))
    with pytest.raises(ParamsError, match="did you mean 'temp_max_c'"):
        parse_params(deep_merge(raw_params, {"ingest": {"aliases": {"temp_maxc": ["T"]}}}))
    with pytest.raises(ParamsError, match="low 5.0 must be below high 1.0"):
        parse_params(deep_merge(raw_params, {"ingest": {"limits": {"soc_pct": [5.0, 1.0]}}}))


def test_cycle_limits_cover_the_chamber_as_the_cell_temperature(raw_params: dict[str, Any]) -> None:
    limits = parse_params(raw_params).cycle_ingest.limits
    assert limits["ambient_c"] == limits["temperature_c"] == (-60.0, 120.0)
    assert DEFAULT_CYCLE_LIMITS["ambient_c"] == DEFAULT_CYCLE_LIMITS["temperature_c"]
    hotter = {"cycle_ingest": {"limits": {"ambient_c": [-40.0, 150.0]}}}
    assert parse_params(deep_merge(raw_params, hotter)).cycle_ingest.limits["ambient_c"] == (
        -40.0,
        150.0,
    )
    with pytest.raises(ParamsError, match="did you mean 'ambient_c'"):
        parse_params(deep_merge(raw_params, {"cycle_ingest": {"limits": {"ambientc": [0, 1]}}}))


def test_load_params_missing_file_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "params.yaml"
    with pytest.raises(ParamsError, match=re.escape(f"{missing}: params file not found")):
        load_params(missing)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", ""])
def test_load_params_non_mapping_yaml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=r"params\.yaml: expected a mapping of sections"):
        load_params(path)


def test_load_params_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("label: [unclosed\n")
    with pytest.raises(ParamsError, match=r"params\.yaml: not valid YAML"):
        load_params(path)


def test_load_params_validation_error_names_file(
    tmp_path: Path, raw_params: dict[str, Any]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_renamed(raw_params, "label", "guard_s", "guard")))
    with pytest.raises(ParamsError, match="^" + re.escape(f"{path}: invalid parameters")) as caught:
        load_params(path)
    assert "did you mean 'guard_s'" in str(caught.value)


@pytest.mark.parametrize(
    ("gate", "value"),
    [
        ("min_pr_auc", -0.5),
        ("min_pr_auc", 1.5),
        ("min_event_recall_at_min_lead", 1.2),
        ("max_false_alarms_per_module_day", -0.01),
        ("min_delta_t_skill", -1.0),
        ("min_generalization_event_recall", -0.1),
    ],
)
def test_an_impossible_gate_is_refused_naming_it(
    raw_params: dict[str, Any], gate: str, value: float
) -> None:
    raw = deep_merge(raw_params, {"gates": {gate: value}})
    with pytest.raises(ParamsError, match=rf"gates\.{gate}"):
        parse_params(raw)


def test_the_register_section_allows_two_ways(raw_params: dict[str, Any]) -> None:
    assert parse_params(raw_params).register_.promote == "auto"
    held = deep_merge(raw_params, {"register": {"promote": "challenger-only"}})
    assert parse_params(held).register_.promote == "challenger-only"
    with pytest.raises(ParamsError, match=r"register\.promote"):
        parse_params(deep_merge(raw_params, {"register": {"promote": "always"}}))
