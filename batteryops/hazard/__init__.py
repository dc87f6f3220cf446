"""The hazard task: thermal-runaway warnings, the 30 s temperature forecast and derating advice.

Labels (:mod:`~batteryops.hazard.labels`), the grouped split (:mod:`~batteryops.hazard.split`),
features and their compiled kernels (:mod:`~batteryops.hazard.features`,
:mod:`~batteryops.hazard.feature_kernels`), the models (:mod:`~batteryops.hazard.models`,
:mod:`~batteryops.hazard.model`, the MLflow flavour :mod:`~batteryops.hazard.pyfunc`), the
persistent alarm and event scoring (:mod:`~batteryops.hazard.events`), evaluation metrics
(:mod:`~batteryops.hazard.evaluate`), derating (:mod:`~batteryops.hazard.derating`) and scoring
with a registered model (:mod:`~batteryops.hazard.scoring`). The work of the ``train``,
``evaluate`` and ``generalize`` stages: :mod:`~batteryops.hazard.training`,
:mod:`~batteryops.hazard.evaluation`, :mod:`~batteryops.hazard.generalization`.
"""
