"""DVC stage ``train``: the hazard classifier, the ΔT regressor and the baselines, to MLflow.

The work is :mod:`batteryops.hazard.training`'s: rows read partition by partition, the models
fitted on the training split and early-stopped on validation, the run logged to MLflow. With
``compute.cluster`` set, the hazard booster is fitted on the Dask cluster's workers.
"""

from __future__ import annotations

import logging

from batteryops.core import schema
from batteryops.core.compute import partitions_runner
from batteryops.core.config import Params
from batteryops.core.io import atomic_path, partition_files, read_json, write_json
from batteryops.hazard import training
from stages._common import run

log = logging.getLogger("stages.train")


def main(params: Params) -> None:
    """Train on the training split, early-stop on validation, log run and model to MLflow."""
    paths, section = params.paths, params.train
    features = read_json(paths.split)["features"]
    files = partition_files(paths.features_dir)
    # The training modules as coarser loggers keep them too (featurize.logger_copies_s).
    copies = partition_files(paths.logger_copies_dir) if params.featurize.logger_copies_s else []
    train, validation = training.read_training_rows(
        files + copies, features, section, params.compute.threads
    )
    log.info(
        "training rows: %d (%d hazard); validation rows: %d",
        len(train),
        int(train[schema.HAZARD].sum()),
        len(validation),
    )
    with partitions_runner(params.compute) as runner:  # compute.cluster: the booster on Dask
        result = training.fit_models(
            train,
            validation,
            features,
            section,
            params.featurize,
            params.label.delta_t_horizon_s,
            rack_modules=training.fewest_rack_modules(files),
            client=runner.client,
        )
    log.info(
        "hazard: best iteration %d, validation PR AUC %.3f; delta T: best iteration %d",
        result.fitted.best_iteration,
        result.fitted.validation_pr_auc,
        result.delta_t_best_iteration,
    )
    with (
        atomic_path(paths.model) as hazard_tmp,
        atomic_path(paths.delta_t_model) as delta_t_tmp,
        atomic_path(paths.baseline_models) as baselines_tmp,
    ):
        result.model.save(hazard_tmp, delta_t_tmp, baselines_tmp)
    model_files = {
        "hazard": paths.model,
        "delta_t": paths.delta_t_model,
        "baselines": paths.baseline_models,
    }
    # Canonical rows, from the telemetry (the featurized table leaves some signals out).
    example = training.rack_example(partition_files(paths.telemetry_dir))
    info = training.log_training_run(
        params.tracking, section, params.label, result, model_files, example
    )
    write_json(info, paths.model_info)
    write_json(training.train_metrics(result), paths.metrics.train)


if __name__ == "__main__":
    run("train", main)
