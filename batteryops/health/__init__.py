"""The health task: state of health and remaining useful life per cell from cycle data.

Labels, summary features, leak-free splits and metrics (:mod:`~batteryops.health.dataset`),
incremental-capacity curve features (:mod:`~batteryops.health.incremental_capacity`), degradation
modes (:mod:`~batteryops.health.dma`), the fade fit (:mod:`~batteryops.health.fade_fit`), the model
(:mod:`~batteryops.health.model`) and its MLflow flavour (:mod:`~batteryops.health.pyfunc`); the
featurized, labelled and split table (:mod:`~batteryops.health.table`) and the training that judges
every model on it and logs the candidate (:mod:`~batteryops.health.training`).
"""
