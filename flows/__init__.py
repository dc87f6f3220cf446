"""Prefect flows that run the DVC stages (DVC stays the one DAG and the cache)."""
