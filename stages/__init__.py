"""Thin DVC stage entry points: ``python -m stages.NAME`` (module name = stage name)."""
