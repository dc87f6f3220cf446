"""Typed, validated access to ``params.yaml``.

``params.yaml`` is the one configuration of the project. Each stage loads it once through
:func:`load_params`, which validates every section with pydantic and turns a misspelled key into
an error that names the key and the nearest valid ones (in the spirit of PyBaMM's FuzzyDict).
Library functions never read params themselves: entry points pass each one its own section.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from batteryops.core import schema

PARAMS_FILE = "params.yaml"


class ParamsError(ValueError):
    """Raised when ``params.yaml`` is missing, malformed or fails validation."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsPaths(_Section):
    """Where each metrics JSON lives."""

    validation: str
    hazard: str
    drift: str
    registry: str
    train: str
    ingest: str
    delta_t: str
    generalization: str
    soh: str
    cycle_validation: str
    soh_registry: str
    headline: str


class PathsParams(_Section):
    """Every path the pipeline reads or writes (relative to the project root)."""

    params_check: str
    raw_dir: str
    served_dir: str
    landing_dir: str
    quarantine_dir: str
    simulated_dir: str
    simulated_truth: str
    telemetry_dir: str
    truth: str
    features_dir: str
    logger_copies_dir: str = "data/processed/logger_copies"
    split: str
    model: str
    model_info: str
    delta_t_model: str
    baseline_models: str
    operating_point: str
    scores: str
    expectations_dir: str
    validation_report: str
    drift_report: str
    drift_columns: str
    plots_dir: str
    plot_data: str
    model_card: str
    shap_summary: str
    audit_log: str
    raw_cycles_dir: str
    cycles: str
    cycle_records: str
    curves: str
    cell_truth: str
    cycle_truth: str
    cycle_quarantine_dir: str
    cycle_validation_report: str
    health_features: str
    health_split: str
    soh_model: str
    soh_model_info: str
    soh_shap: str
    soh_model_card: str
    metrics: MetricsPaths


class FaultCounts(_Section):
    """How many modules of the fleet carry each fault that drives thermal runaway."""

    internal_short: int = Field(ge=0)
    external_heating: int = Field(ge=0)
    cooling_failure: int = Field(ge=0)
    overcharge: int = Field(ge=0)


class NuisanceCounts(_Section):
    """How many modules carry each nuisance that must not be mistaken for a hazard."""

    stuck_sensor: int = Field(ge=0)
    drifting_sensor: int = Field(ge=0)
    gas_spikes: int = Field(ge=0)
    hot_ambient_racks: int = Field(ge=0)
    high_load_racks: int = Field(ge=0)
    # Benign heat (issue 18): hotter than its neighbours for a reason that is no hazard.
    busy_module: int = Field(default=0, ge=0)  # carries more current than its rack for hours
    poor_cooling: int = Field(default=0, ge=0)  # a badly cooled position (rack end, blocked duct)
    contact_resistance: int = Field(default=0, ge=0)  # a warm busbar joint: I^2 R into the module
    calibration_offset: int = Field(default=0, ge=0)  # temperature sensors read high by offset


class CellParams(_Section):
    """Equivalent circuit of one cell, fitted to PyBaMM's SPMe with Chen2020 (see physics.cell)."""

    capacity_ah: float = Field(gt=0)
    r0_ohm: float = Field(gt=0)
    r1_ohm: float = Field(ge=0)
    tau1_s: float = Field(gt=0)
    r2_ohm: float = Field(ge=0)
    tau2_s: float = Field(gt=0)
    activation_k: float = Field(ge=0)
    low_soc_factor: float = Field(ge=0)
    heat_share: float = Field(ge=0, le=1)


class ImperfectionParams(_Section):
    """What loggers do to data: outliers, gaps (canonical); duplicates, jitter (raw export)."""

    outlier_fraction: float = Field(ge=0, lt=1)
    outlier_temp_c: float = Field(ge=0)
    outlier_cell_v: float = Field(ge=0)
    logger_gaps_per_module_day: float = Field(ge=0)
    logger_gap_s_min: int = Field(gt=0)
    logger_gap_s_max: int = Field(gt=0)
    duplicate_fraction: float = Field(ge=0, lt=1)
    clock_jitter_ms: float = Field(ge=0)

    @model_validator(mode="after")
    def _gap_range(self) -> ImperfectionParams:
        if self.logger_gap_s_min > self.logger_gap_s_max:
            raise ValueError(
                f"simulate.imperfections.logger_gap_s_min ({self.logger_gap_s_min}) exceeds "
                f"logger_gap_s_max ({self.logger_gap_s_max})"
            )
        return self


class SimulateParams(_Section):
    """The simulated fleet (``generate`` stage)."""

    seed: int
    start_time: str
    racks: int = Field(gt=0)
    modules_per_rack: int = Field(gt=0)
    duration_s: int = Field(gt=0)
    chunk_s: int = Field(gt=0)
    faults: FaultCounts
    nuisances: NuisanceCounts
    fault_earliest_s: int = Field(ge=0)
    fault_latest_fraction: float = Field(gt=0, le=1)
    cells_series: int = Field(gt=0)
    cells_parallel: int = Field(gt=0)
    cell: CellParams
    cell_spread_fraction: float = Field(ge=0, lt=1)
    duty_c_rate: float = Field(gt=0)
    duty_period_s: float = Field(gt=0)
    regulation_noise_c_rate: float = Field(ge=0)
    high_load_c_rate: float = Field(gt=0)
    ev_profile_racks: int = Field(ge=0)
    ev_cycle_s: float = Field(gt=0)
    ev_drive_mean_c_rate: float
    ev_drive_std_c_rate: float = Field(ge=0)
    ev_peak_c_rate: float = Field(gt=0)
    ev_charge_c_rate: float = Field(gt=0)
    hot_ambient_delta_c: float
    ambient_mean_c: float
    ambient_daily_amplitude_c: float = Field(ge=0)
    coolant_offset_c: float
    module_to_air_w_per_k: float = Field(gt=0)
    cell_to_module_w_per_k: float = Field(gt=0)
    neighbour_w_per_k: float = Field(ge=0)
    housing_heat_capacity_j_per_k: float = Field(ge=0)
    sensor_coupling_min: float = Field(gt=0, le=1)
    sensor_coupling_max: float = Field(gt=0, le=1)
    isc_initial_w: float = Field(gt=0)
    isc_doubling_s: float = Field(gt=0)
    isc_max_w: float = Field(gt=0)
    separator_short_c: float
    external_heating_w: float = Field(gt=0)
    external_heating_ramp_s: float = Field(gt=0)
    cooling_failure_factor: float = Field(gt=0, le=1)
    busy_module_current_factor: float = Field(default=1.6, ge=1)
    poor_cooling_factor: float = Field(default=0.7, gt=0, le=1)
    contact_resistance_ohm: float = Field(default=0.01, ge=0)
    calibration_offset_c: float = Field(default=3.0, ge=0)
    # Benign variety of the cell-voltage spread (drawn per module, uniform from 0 to these):
    # the SoC gap between the module's highest and lowest cell, and how far the weakest cell's
    # resistance is above the others' (a share of r0).
    cell_imbalance_soc_max: float = Field(default=0.0, ge=0, le=0.5)
    cell_resistance_mismatch_max: float = Field(default=0.0, ge=0, le=2)
    cooling_failure_resistance_factor: float = Field(ge=1)
    # Share of the modules without a fault whose cells are aged as a cooling-failure module's
    # are (resistance x cooling_failure_resistance_factor): healthy modules of every age.
    aged_module_share: float = Field(default=0.0, ge=0, le=1)
    overcharge_c_rate: float = Field(gt=0)
    overcharge_side_reaction_soc: float = Field(gt=0)
    vent_temp_c: float
    vent_gas_ppm_per_s: float = Field(gt=0)
    isc_cell_voltage_drop_v_per_w: float = Field(ge=0)
    post_pnr_fire_w: float = Field(ge=0)
    post_pnr_fire_s: float = Field(ge=0)
    pnr_rate_c_per_s: float = Field(gt=0)
    sensor_max_c: float
    sensor_dropout_after_pnr_s: int = Field(ge=0)
    temp_noise_c: float = Field(ge=0)
    voltage_noise_v: float = Field(ge=0)
    gas_noise_ppm: float = Field(ge=0)
    dropout_fraction: float = Field(ge=0, lt=1)
    drift_c_per_h: float
    drift_max_c: float = Field(ge=0)
    gas_spike_rate_per_h: float = Field(ge=0)
    gas_spike_ppm: float = Field(ge=0)
    imperfections: ImperfectionParams


class ValidateParams(_Section):
    """Great Expectations validation (``validate`` stage)."""

    suite: str
    raw_suite: str
    sample_rows: int = Field(gt=0)


class LabelParams(_Section):
    """Label windows (``label`` stage)."""

    prediction_window_s: int = Field(gt=0)
    guard_s: int = Field(ge=0)
    overheat_threshold_c: float
    overheat_horizon_s: int = Field(gt=0)
    delta_t_horizon_s: int = Field(gt=0)
    delta_t_median_s: int = Field(gt=0)

    @model_validator(mode="after")
    def _guard_inside_window(self) -> LabelParams:
        if self.guard_s >= self.prediction_window_s:
            raise ValueError(
                f"label.guard_s ({self.guard_s}) must be shorter than "
                f"label.prediction_window_s ({self.prediction_window_s})"
            )
        return self


class SplitParams(_Section):
    """Grouped split of modules into train / validation / test.

    ``validation_fraction`` and ``test_fraction`` apply to modules that run away;
    ``healthy_*`` to modules that never do (healthy and nuisance), which are plentiful and whose
    held-out module-days are what a false-alarm rate is measured on.
    """

    seed: int
    validation_fraction: float = Field(gt=0, lt=1)
    test_fraction: float = Field(gt=0, lt=1)
    healthy_validation_fraction: float = Field(gt=0, lt=1)
    healthy_test_fraction: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _fractions_leave_training(self) -> SplitParams:
        for prefix in ("", "healthy_"):
            held_out = getattr(self, f"{prefix}validation_fraction") + getattr(
                self, f"{prefix}test_fraction"
            )
            if held_out >= 0.9:
                raise ValueError(
                    f"split.{prefix}validation_fraction + split.{prefix}test_fraction "
                    "must stay below 0.9"
                )
        return self


class FeaturizeParams(_Section):
    """Rolling features (``featurize`` stage)."""

    slope_windows_s: list[int] = Field(min_length=1)
    rolling_windows_s: list[int] = Field(min_length=1)
    # Defaults: models registered before the heat-balance features load unchanged.
    heat_balance_window_s: int = Field(default=90, gt=0)
    heat_balance_ridge_kw2: float = Field(default=1.0e-4, ge=0)
    # The training modules again as loggers reading every this many seconds keep them (trained
    # on beside the 1 Hz rows; validation and test stay 1 Hz): issue 18's coarser loggers.
    logger_copies_s: list[int] = Field(default_factory=list)
    # The thermal observer's unexplained heat (batteryops.hazard.observer) as classifier inputs;
    # computed either way. False keeps models registered before it loading unchanged.
    observer_inputs: bool = False
    # The cell-voltage spread's level (its value and rolling means) as classifier inputs;
    # computed and stored either way. True keeps models registered before it loading unchanged.
    spread_level_inputs: bool = True
    # The cell-voltage spread's excess over the module's own (batteryops.hazard.spread_baseline)
    # as a classifier input; computed either way. False keeps older models loading unchanged.
    spread_excess_input: bool = False
    split: SplitParams

    @model_validator(mode="after")
    def _positive_windows(self) -> FeaturizeParams:
        for name in ("slope_windows_s", "rolling_windows_s", "logger_copies_s"):
            for window in getattr(self, name):
                if window <= 0:
                    raise ValueError(f"featurize.{name} must hold positive seconds, got {window}")
        return self


class ComputeParams(_Section):
    """Where the heavy per-partition work runs (``compute``; :mod:`batteryops.core.compute`).

    The work of featurize (rack-days), train (the booster), evaluate (held-out rack-days) and
    health_features (cells).

    ``cluster``: null runs every partition in the stage's process; ``local`` a Dask
    ``LocalCluster`` of ``workers`` (processes, or threads when ``processes`` is false); any other
    value is a Dask scheduler's address. ``partition_s``: each rack's telemetry is featurized
    this many seconds (a day) at a time, aligned to the epoch. ``threads``: with no cluster,
    featurize runs this many racks, evaluate this many held-out partitions (and test judgings),
    train reads this many partitions and generalize judges this many fleets, at once on threads
    of the stage's process.
    """

    cluster: str | None = None
    threads: int = Field(default=2, gt=0)
    workers: int = Field(default=2, gt=0)
    memory_per_worker: str = "5GB"
    processes: bool = True
    partition_s: int = Field(default=86400, ge=3600)


class TrackingParams(_Section):
    """MLflow tracking and registry."""

    uri: str
    experiment: str
    artifact_dir: str
    model_name: str


class XGBoostParams(_Section):
    """XGBoost hyper-parameters of the hazard classifier."""

    n_estimators: int = Field(gt=0)
    max_depth: int = Field(gt=0)
    learning_rate: float = Field(gt=0)
    subsample: float = Field(gt=0, le=1)
    colsample_bytree: float = Field(gt=0, le=1)
    min_child_weight: float = Field(ge=0)
    n_jobs: int = Field(gt=0)
    # Early stopping judges rounds from this one on (the hazard classifier; see
    # batteryops.hazard.models.BestFromRound).
    min_rounds: int = Field(default=1, gt=0)


class IsolationForestParams(_Section):
    """The IsolationForest anomaly baseline, fitted on healthy training rows."""

    n_estimators: int = Field(gt=0)
    max_samples: int = Field(gt=1)
    as_feature: bool  # also feed its anomaly score to the XGBoost classifier


class BaselineParams(_Section):
    """Learned baselines judged beside the XGBoost classifier."""

    logistic_c: float = Field(gt=0)
    isolation_forest: IsolationForestParams


class TrainParams(_Section):
    """Training (``train`` stage)."""

    seed: int
    row_stride_s: int = Field(gt=0)
    negative_stride_s: int = Field(gt=0)
    xgboost: XGBoostParams
    delta_t_xgboost: XGBoostParams
    baselines: BaselineParams
    # The physics alarm (batteryops.hazard.model.HazardModel.physics_alarm): unexplained heat in
    # C/min that alarms whatever the classifier says; None: the classifier alone.
    unexplained_heat_alarm_c_per_min: float | None = Field(default=None, gt=0)
    # Its sustained channel: the same heat's ten-minute mean in C/min; None: off.
    unexplained_heat_sustained_alarm_c_per_min: float | None = Field(default=None, gt=0)
    # Its persistent channel: the hottest sensor's unexplained heat over ten minutes, C/min.
    unexplained_heat_persistent_alarm_c_per_min: float | None = Field(default=None, gt=0)
    # Its voltage channel: the cell-voltage spread's excess over the module's own, in V; None: off.
    spread_excess_alarm_v: float | None = Field(default=None, gt=0)
    # Its overvoltage channel: the highest cell voltage held for 80 s, in V; None: off.
    cell_overvoltage_alarm_v: float | None = Field(default=None, gt=0)
    # Its hot-spot channel: how fast the hottest sensor outruns the sensors' mean, C/min.
    hot_spot_rise_alarm_c_per_min: float | None = Field(default=None, gt=0)
    # The classifier alarms only within this many seconds of the observer's evidence of a fault
    # (HazardModel.classifier_evidence_window_s); None: ungated.
    classifier_evidence_window_s: float | None = Field(default=None, gt=0)


class AlarmParams(_Section):
    """How scores become alarms and alarms become events."""

    persistence_k: int = Field(gt=0)
    persistence_n: int = Field(gt=0)
    episode_merge_gap_s: int = Field(ge=0)
    min_lead_s: int = Field(ge=0)
    false_alarm_budget_per_module_day: float = Field(ge=0)
    max_logger_period_s: int = Field(default=30, ge=1)  # versions from before it: 30

    @model_validator(mode="after")
    def _k_of_n(self) -> AlarmParams:
        if self.persistence_k > self.persistence_n:
            raise ValueError(
                f"alarm.persistence_k ({self.persistence_k}) cannot exceed "
                f"alarm.persistence_n ({self.persistence_n})"
            )
        return self


class RuleBaselineParams(_Section):
    """The temperature / dT/dt threshold rule judged beside the model."""

    temp_max_c: float
    slope_c_per_min: float


class EvaluateParams(_Section):
    """Evaluation (``evaluate`` stage)."""

    rule_baseline: RuleBaselineParams
    threshold_grid_size: int = Field(gt=1)
    shap_sample_rows: int = Field(gt=0)


class ExplainParams(_Section):
    """TreeSHAP explanations of alarms in scoring output."""

    top_features: int = Field(gt=0)


class DeratingParams(_Section):
    """Recommended current limit per module (see ``batteryops.hazard.derating``)."""

    rated_current_a: float = Field(gt=0)
    derate_start_c: float
    stop_c: float
    watch_probability: float = Field(gt=0, lt=1)
    watch_current_fraction: float = Field(ge=0, le=1)
    # Without a temperature the module's heat is unknown: at most this share, never all of it.
    missing_temperature_current_fraction: float = Field(default=0.5, ge=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> DeratingParams:
        if self.derate_start_c >= self.stop_c:
            raise ValueError(
                f"derating.derate_start_c ({self.derate_start_c}) must be below "
                f"derating.stop_c ({self.stop_c})"
            )
        return self


class FamilyBFaults(_Section):
    """Runaway faults of family B (its own mechanisms; :mod:`batteryops.familyb.plan`)."""

    internal_short: int = Field(default=0, ge=0)
    external_heating: int = Field(default=0, ge=0)
    cooling_failure: int = Field(default=0, ge=0)
    overcharge: int = Field(default=0, ge=0)


class FamilyBNuisances(_Section):
    """Families of family B that must not alarm (module counts; ``*_racks``: whole racks)."""

    busy_module: int = Field(default=0, ge=0)
    poor_cooling: int = Field(default=0, ge=0)
    contact_resistance: int = Field(default=0, ge=0)
    calibration_offset: int = Field(default=0, ge=0)
    stuck_sensor: int = Field(default=0, ge=0)
    gas_cross_sensitivity: int = Field(default=0, ge=0)
    hvac_cycling_racks: int = Field(default=0, ge=0)
    heat_wave_racks: int = Field(default=0, ge=0)


class FamilyBParams(_Section):
    """Family B: an independently written simulator, used only for judging (never trained on)."""

    seed: int = 2026
    start_time: str = "2026-08-01T00:00:00Z"
    racks: int = Field(default=4, gt=0)
    modules_per_rack: int = Field(default=12, gt=0)
    duration_s: int = Field(default=86400, gt=0)
    chunk_s: int = Field(default=21600, gt=0)
    fault_earliest_s: int = Field(default=3600, ge=0)
    fault_latest_fraction: float = Field(default=0.7, gt=0, le=1)
    faults: FamilyBFaults = Field(default_factory=FamilyBFaults)
    nuisances: FamilyBNuisances = Field(default_factory=FamilyBNuisances)
    # 0: each module's four thermistors where they were drawn. N: those of a module whose fault
    # starts in one cell are moved at least N cells from it (a judging scenario: the worst
    # placements, which a fleet drawn at random meets rarely).
    sensor_min_distance_cells: int = Field(default=0, ge=0, le=4)


class GeneralizeParams(_Section):
    """A second fleet, unlike the training one, that the trained model is scored on."""

    simulate: dict[str, Any]  # overrides of the ``simulate`` section (validated when merged)
    logging_periods_s: list[int] = Field(default_factory=list)  # coarser loggers judged too
    family_b: FamilyBParams | None = None  # the independent physics family (judging only)


class DriftParams(_Section):
    """Evidently drift report (``drift_report`` stage)."""

    reference_rows: int = Field(gt=0)
    current_rows: int = Field(gt=0)
    current_window_s: int = Field(gt=0)
    method: str
    seed: int
    max_drift_share: float = Field(ge=0, le=1)


class RegressionParams(_Section):
    """How much worse than the champion (on the same test modules) a hazard candidate may be.

    Each is a share of the champion's own value: recall and PR AUC may fall to
    ``champion x (1 - share)``, false alarms rise to ``champion x (1 + share)`` (so none more
    than a champion that had none).
    """

    event_recall_at_min_lead: float = Field(ge=0, le=1)
    pr_auc: float = Field(ge=0, le=1)
    false_alarms_per_module_day: float = Field(ge=0)


class SohRegressionParams(_Section):
    """How much worse than the champion a health candidate may be, as a share of its value."""

    soh_rmse_pct: float = Field(ge=0)
    rul_mape_pct: float = Field(ge=0)


class GateParams(_Section):
    """Registration gates: thresholds, their confidence bounds, no regression, drift, validation.

    A bound gate set to null is not checked.
    """

    min_event_recall_at_min_lead: float = Field(ge=0, le=1)
    min_event_recall_at_min_lead_lower95: float | None = Field(default=None, ge=0, le=1)
    min_pr_auc: float = Field(ge=0, le=1)
    max_false_alarms_per_module_day: float = Field(ge=0)
    max_false_alarms_per_module_day_upper95: float | None = Field(default=None, gt=0)
    min_lead_time_min_median: float = Field(ge=0)
    max_regression: RegressionParams
    require_validation: bool
    min_generalization_event_recall: float = Field(ge=0, le=1)
    # persistence RMSE / model RMSE of the 30 s temperature change
    min_delta_t_skill: float = Field(ge=0)
    soh: SohGateParams


class SohGateParams(_Section):
    """Gates of ``battery-soh`` on the temperature holdout (``metrics/soh.json``)."""

    max_soh_rmse_pct: float = Field(gt=0)
    min_soh_within_3pct: float = Field(ge=0, le=1)
    min_soh_within_5pct: float = Field(ge=0, le=1)
    max_rul_mape_pct: float = Field(gt=0)
    beat_baselines: bool = True
    max_second_family_soh_rmse_pct: float | None = Field(default=None, gt=0)
    max_regression: SohRegressionParams
    require_validation: bool


class CheckupParams(_Section):
    """What counts as a check-up (reference performance test) cycle: a full discharge at a low rate.

    A cell with no cycle at or below ``max_c_rate`` (or no C-rate: no nominal capacity) has each
    full discharge as a check-up, as in lab data that cycles at one rate.
    """

    min_depth: float = Field(gt=0, le=1)
    max_c_rate: float | None = Field(default=None, gt=0)


class HealthParams(_Section):
    """The state-of-health task (``health``): source, labels, features, splits, models."""

    source: Literal["simulated", "files"]
    model_name: str
    reference_cycles: int = Field(gt=0)
    eol_soh: float = Field(gt=0, lt=1)
    row_stride: int = Field(gt=0)
    rul_from_cycle: int = Field(ge=0)
    rul_every: int = Field(gt=0)
    rul_judged_at_cycle: int = Field(ge=0)
    max_rul_cycles: float = Field(gt=0)
    holdout: Literal["temperature", "protocol"] = "temperature"
    train_temperatures_c: list[float] = Field(min_length=1)
    test_temperatures_c: list[float] = Field(min_length=1)
    protocol_test_every: int = Field(default=4, ge=2)
    watch_below_soh: float = Field(gt=0, le=1)
    replace_below_soh: float = Field(gt=0, le=1)
    interval: tuple[float, float]
    cell_folds: int = Field(ge=0)
    checkup: CheckupParams
    soh_xgboost: dict[str, float | int]
    rul_xgboost: dict[str, float | int]
    shap_rows: int = Field(gt=0)


class RegisterParams(_Section):
    """Who may move ``champion`` (the ``register`` section).

    ``auto``: a candidate that holds every gate, outside a DVC experiment; ``challenger-only``:
    no run (``batteryops promote`` is the way on).
    """

    promote: Literal["auto", "challenger-only"] = "auto"


class FlowParams(_Section):
    """Prefect flow: parallelism, retries and the schedule of the deployment."""

    max_parallel_stages: int = Field(gt=0)
    retries: int = Field(ge=0)
    retry_delay_s: int = Field(ge=0)
    cron: str
    deployment_name: str
    task_runner: Literal["threads", "dask"] = "threads"


class AskParams(_Section):
    """Plain-language questions (``batteryops ask``, ``POST /api/ask``; :mod:`batteryops.ask`).

    ``endpoint`` and ``model``: an OpenAI-compatible chat endpoint (Ollama's by default);
    ``use_model`` false answers with the deterministic router alone; ``route``: who picks the
    tool first (``router_first`` or ``model_first``).
    """

    endpoint: str = "http://127.0.0.1:11434/v1"
    model: str = "llama3.2"
    api_key_env: str = "BATTERYOPS_LLM_API_KEY"
    use_model: bool = True
    route: Literal["router_first", "model_first"] = "router_first"
    timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=1.0, gt=0)
    retry_after_s: float = Field(default=60.0, ge=0)
    max_question_chars: int = Field(default=500, ge=20, le=5000)
    default_window_s: int = Field(default=3600, ge=60, le=7 * 86400)
    default_count: int = Field(default=5, ge=1, le=50)


class IngestParams(_Section):
    """Logger and BMS exports to canonical telemetry (``ingest`` stage, ``batteryops ingest``)."""

    timezone: str
    dayfirst: bool
    block_size_mb: float = Field(gt=0, le=1024)
    aliases: dict[str, list[str]]
    limits: dict[str, tuple[float, float]]
    # Module ids as the files give them, unless they repeat across racks (auto); or always
    # (verbatim: repeats are refused) or never (rack_prefixed: ``RACK-MODULE``).
    module_ids: Literal["auto", "verbatim", "rack_prefixed"] = "auto"
    # A truth row with a PNR but no fault_start: the detection window opens this long before PNR.
    fault_lookback_s: int = Field(default=3600, gt=0)

    @model_validator(mode="after")
    def _known_names(self) -> IngestParams:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"ingest.timezone: unknown time zone {self.timezone!r}") from None
        canonical = [schema.TIMESTAMP, schema.RACK_ID, schema.MODULE_ID, *schema.SIGNALS]
        for section, names in (("aliases", self.aliases), ("limits", self.limits)):
            for name in names:
                if name not in canonical:
                    raise ValueError(
                        f"ingest.{section}: {name!r} is not a canonical column"
                        f"{_nearest(name, canonical)}"
                    )
        for name, (low, high) in self.limits.items():
            if low >= high:
                raise ValueError(f"ingest.limits.{name}: low {low} must be below high {high}")
        return self


# Physically possible ranges of cycle data: cycle ingest quarantines a row outside them and the
# cycles suite checks them. ``cycle_ingest.limits`` is merged over this table, column by column.
DEFAULT_CYCLE_LIMITS: dict[str, tuple[float, float]] = {
    "capacity_ah": (0.0, 1000.0),
    "resistance_ohm": (0.0, 1000.0),  # coin cells read tens of ohms
    "temperature_c": (-60.0, 120.0),
    "temperature_max_c": (-60.0, 120.0),
    "ambient_c": (-60.0, 120.0),  # a climate chamber's range
    "depth_of_discharge": (0.0, 1.0),
    "charge_c_rate": (0.0, 20.0),
    "discharge_c_rate": (0.0, 20.0),
}


class CycleIngestParams(_Section):
    """Cycler exports to canonical cycle data (the ``cycle_ingest`` section of params).

    ``limits`` given here are merged over :data:`DEFAULT_CYCLE_LIMITS`, column by column.
    """

    aliases: dict[str, list[str]] = Field(default_factory=dict)
    nominal_capacity_ah: float | None = Field(default=None, gt=0)
    limits: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: dict(DEFAULT_CYCLE_LIMITS)
    )
    layout: Literal["auto", "generic", "matr"] = "auto"

    @field_validator("limits")
    @classmethod
    def _merged_limits(
        cls, limits: dict[str, tuple[float, float]]
    ) -> dict[str, tuple[float, float]]:
        return {**DEFAULT_CYCLE_LIMITS, **limits}

    @model_validator(mode="after")
    def _known_names(self) -> CycleIngestParams:
        columns = [*schema.CYCLE_COLUMNS, *schema.CYCLE_HELPER_COLUMNS]
        for section, names, valid in (
            ("aliases", self.aliases, columns),
            ("limits", self.limits, schema.CYCLE_SIGNALS),
        ):
            for name in names:
                if name not in valid:
                    raise ValueError(
                        f"cycle_ingest.{section}: {name!r} is not a cycle column"
                        f"{_nearest(name, valid)}"
                    )
        for name, (low, high) in self.limits.items():
            if low >= high:
                raise ValueError(f"cycle_ingest.limits.{name}: low {low} must be below high {high}")
        return self


class AgeingProtocol(_Section):
    """One ageing protocol: constant-current charge and discharge rates, depth of each cycle.

    The depth is a share of the nominal capacity (1: full 2.5-4.2 V cycles).
    """

    name: str
    charge_c_rate: float = Field(gt=0)
    discharge_c_rate: float = Field(gt=0)
    depth_of_discharge: float = Field(default=1.0, gt=0, le=1)


class AgeingRates(_Section):
    """Rates of the degradation modes (fractions of the fresh cell's charges); see ageing.py."""

    sei_calendar_per_sqrt_day: float = Field(ge=0)
    sei_cycle_per_sqrt_efc: float = Field(ge=0)
    sei_activation_j_per_mol: float
    plating_per_cycle: float = Field(ge=0)
    plating_c_rate_exponent: float = Field(ge=0)
    plating_activation_j_per_mol: float
    lam_neg_per_cycle: float = Field(ge=0)
    lam_pos_per_cycle: float = Field(ge=0)
    lam_c_rate_exponent: float = Field(ge=0)
    lam_activation_j_per_mol: float
    knee_x: float = Field(gt=0, lt=1)
    knee_gain: float = Field(ge=0)
    pore_clogging_lli: float = Field(gt=0, lt=1)
    pore_clogging_gain: float = Field(ge=0)


class AgeingSpread(_Section):
    """Cell-to-cell spread (relative standard deviations)."""

    rate_fraction: float = Field(ge=0)
    mode_fraction: float = Field(ge=0)
    capacity_fraction: float = Field(ge=0, lt=0.2)
    resistance_fraction: float = Field(ge=0, lt=0.5)


class AgeingNoise(_Section):
    """Measurement noise of the cycler."""

    capacity_ah: float = Field(ge=0)
    resistance_fraction: float = Field(ge=0)
    temperature_c: float = Field(ge=0)
    voltage_v: float = Field(ge=0)


class SecondAgeingProtocol(_Section):
    """One protocol of the second family: rates, depth and mean voltage of its ageing cycles."""

    name: str
    charge_c_rate: float = Field(gt=0)
    discharge_c_rate: float = Field(gt=0)
    depth_of_discharge: float = Field(gt=0, le=1)
    mean_voltage_v: float = Field(gt=2.5, lt=4.5)


class SecondAgeingParams(_Section):
    """The second ageing family (``second_ageing``): semi-empirical laws of another cell.

    The health model is judged on it, never trained on it (:mod:`batteryops.sim.semi_empirical`).
    """

    seed: int
    temperatures_c: list[float] = Field(min_length=1)
    protocols: list[SecondAgeingProtocol] = Field(min_length=1)
    cells_per_condition: int = Field(gt=0)
    max_cycles: int = Field(gt=0)
    end_soh: float = Field(gt=0, lt=1)
    checkup_every: int = Field(gt=0)
    checkup_c_rate: float = Field(gt=0)
    nominal_capacity_ah: float = Field(gt=0)
    storage_voltage_v: float = Field(gt=2.5, lt=4.5)
    resistance_ohm: float = Field(gt=0)
    rest_h: float = Field(ge=0)
    coulombic_efficiency: float = Field(gt=0, le=1)
    rate_capacity_loss: float = Field(ge=0, lt=0.5)
    self_heating_c_per_c_rate: float = Field(ge=0)
    knee_onset_loss: float = Field(gt=0, lt=1)
    knee_gain: float = Field(ge=0)
    rate_spread_fraction: float = Field(ge=0)
    capacity_spread_fraction: float = Field(ge=0)
    noise_capacity_ah: float = Field(ge=0)
    noise_resistance_fraction: float = Field(ge=0)
    noise_temperature_c: float = Field(ge=0)


class AgeingParams(_Section):
    """The simulated ageing fleet (``ageing``): LG M50-type cells by degradation modes."""

    seed: int
    temperatures_c: list[float] = Field(min_length=1)
    protocols: list[AgeingProtocol] = Field(min_length=1)
    cells_per_condition: int = Field(gt=0)
    max_cycles: int = Field(gt=0)
    end_soh: float = Field(gt=0, lt=1)
    eol_soh: float = Field(gt=0, lt=1)
    checkpoint_every: int = Field(gt=0)
    curve_points: int = Field(ge=20)
    curve_c_rate: float = Field(gt=0)
    nominal_capacity_ah: float = Field(gt=0)
    rest_h: float = Field(ge=0)
    coulombic_efficiency: float = Field(gt=0, le=1)
    rate_capacity_loss: float = Field(ge=0, lt=0.5)
    self_heating_c_per_c_rate: float = Field(ge=0)
    resistance_ohm: float = Field(gt=0)
    resistance_activation_k: float = Field(ge=0)
    resistance_growth_per_lli: float = Field(ge=0)
    resistance_growth_per_lam: float = Field(ge=0)
    rates: AgeingRates
    spread: AgeingSpread
    noise: AgeingNoise

    @model_validator(mode="after")
    def _end_below_eol(self) -> AgeingParams:
        if self.end_soh >= self.eol_soh:
            raise ValueError(f"end_soh {self.end_soh} must be below eol_soh {self.eol_soh}")
        return self


class SmtpParams(_Section):
    """E-mail alerts: the SMTP relay and who gets them."""

    host: str | None = None
    port: int = Field(default=25, gt=0, lt=65536)
    sender: str = "batteryops@localhost"
    recipients: list[str] = Field(default_factory=list)
    starttls: bool = False


class AlertParams(_Section):
    """Alert notifiers of the live service and their de-duplication and rate limit."""

    notifiers: list[Literal["log", "webhook", "email"]]
    webhook_url: str | None = None
    smtp: SmtpParams = SmtpParams()
    dedup_s: float = Field(ge=0)
    max_per_minute: int = Field(gt=0)

    @model_validator(mode="after")
    def _targets(self) -> AlertParams:
        if "webhook" in self.notifiers and not self.webhook_url:
            raise ValueError("serve.alerts.webhook_url is needed for the webhook notifier")
        if "email" in self.notifiers and not (self.smtp.host and self.smtp.recipients):
            raise ValueError("serve.alerts.smtp.host and recipients are needed for e-mail")
        return self


class MonitorParams(_Section):
    """Monitoring of the served data (``batteryops monitor``, the ``batteryops-monitor`` flow)."""

    window_s: int = Field(gt=0)
    min_rows: int = Field(gt=0)
    reference_rows: int = Field(gt=0)
    current_rows: int = Field(gt=0)
    method: str
    max_drift_share: float = Field(ge=0, le=1)
    max_column_drift: float = Field(gt=0)  # a distance method's score of one column
    max_alarms_per_module_day: float = Field(ge=0)
    max_missing_share: float = Field(ge=0, le=1)
    min_precision: float = Field(ge=0, le=1)
    min_reviews: int = Field(gt=0)
    retrain_on_breach: bool
    cron: str
    deployment_name: str


class ServeParams(_Section):
    """The live scoring service (``batteryops serve``)."""

    host: str
    port: int = Field(gt=0, lt=65536)
    api_key_env: str
    database_url: str
    model_poll_s: float = Field(gt=0)
    buffer_s: int = Field(gt=0)
    history_s: int = Field(gt=0)
    max_body_mb: float = Field(gt=0)
    max_rows_per_request: int = Field(gt=0)
    max_pending_rows: int = Field(gt=0)
    max_rows_per_tick: int = Field(gt=0)
    max_future_s: float = Field(ge=0)
    max_age_s: float = Field(gt=0)
    max_modules: int = Field(gt=0)
    rate_limit_per_s: float = Field(gt=0)
    websocket_queue: int = Field(gt=0)
    replay_speed: float = Field(gt=0)
    monitor: MonitorParams
    alerts: AlertParams


class Params(_Section):
    """All of ``params.yaml``."""

    source: Literal["simulated", "files", "both"]
    paths: PathsParams
    simulate: SimulateParams
    ingest: IngestParams
    validate_: ValidateParams = Field(alias="validate")
    label: LabelParams
    featurize: FeaturizeParams
    tracking: TrackingParams
    compute: ComputeParams = ComputeParams()
    train: TrainParams
    alarm: AlarmParams
    evaluate: EvaluateParams
    explain: ExplainParams
    derating: DeratingParams
    generalize: GeneralizeParams
    drift: DriftParams
    gates: GateParams
    register_: RegisterParams = Field(default_factory=RegisterParams, alias="register")
    flow: FlowParams
    ageing: AgeingParams
    second_ageing: SecondAgeingParams
    health: HealthParams
    cycle_ingest: CycleIngestParams
    serve: ServeParams
    ask: AskParams = Field(default_factory=AskParams)

    @model_validator(mode="after")
    def _generalization_fleet(self) -> Params:
        try:
            merged_simulate(self.simulate, self.generalize.simulate)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()
            )
            raise ValueError(
                f"generalize.simulate overrides give an invalid fleet: {problems}"
            ) from None
        window = max(self.featurize.slope_windows_s + self.featurize.rolling_windows_s)
        if self.serve.buffer_s < window + 10:
            raise ValueError(
                f"serve.buffer_s ({self.serve.buffer_s}) must cover the longest feature window "
                f"plus 10 s of slope smoothing ({window + 10} s)"
            )
        return self


def merged_simulate(base: SimulateParams, overrides: dict[str, Any]) -> SimulateParams:
    """The ``simulate`` section with ``overrides`` merged in (nested sections key by key).

    Raises:
        pydantic.ValidationError: If the merged section is invalid (e.g. a misspelled key).
    """
    return SimulateParams.model_validate(deep_merge(base.model_dump(), overrides))


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``overrides`` merged in, nested sections key by key."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _nearest(key: str, valid: list[str]) -> str:
    matches = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches else ""


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Params
    for part in loc:
        if model is None:
            return None
        field = next(
            (f for name, f in model.model_fields.items() if (f.alias or name) == part), None
        )
        if field is None:
            return None
        annotation = field.annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return model


def _explain(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid parameters"]
    for item in error.errors():
        loc = tuple(item["loc"])
        dotted = ".".join(str(part) for part in loc)
        if item["type"] == "extra_forbidden":
            parent = _model_at(loc[:-1])
            valid = [f.alias or n for n, f in parent.model_fields.items()] if parent else []
            lines.append(f"  unknown key '{dotted}'{_nearest(str(loc[-1]), valid)}")
        elif item["type"] == "missing":
            lines.append(f"  missing key '{dotted}'")
        else:
            lines.append(f"  '{dotted}': {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def parse_params(raw: dict[str, Any], source: str = PARAMS_FILE) -> Params:
    """Validate a params mapping.

    Args:
        raw: The mapping read from ``params.yaml``.
        source: Name of the file it came from, for messages.

    Returns:
        The validated parameters.

    Raises:
        ParamsError: On any unknown, missing or out-of-range key, naming the key and the nearest
            valid ones.
    """
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(_explain(error, source)) from None


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml``.

    Args:
        path: The params file.

    Returns:
        The validated parameters.

    Raises:
        ParamsError: If the file is missing, is not YAML, or fails validation.
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found (run from the project root)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return parse_params(raw, str(path))
