"""MLOps: data validation, drift, tracking, registration gates, the registry and model cards.

Task-agnostic: a task (:mod:`batteryops.hazard`, :mod:`batteryops.health`) hands in its metrics,
models and suites; nothing here imports a task.
"""
