"""The Makefile's targets do what the README says of them."""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT


def _dry_run(target: str) -> str:
    done = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_clean_keeps_the_registry_and_its_audit_log() -> None:
    removed = _dry_run("clean").split()
    for kept in ("registry", "mlflow.db", "mlartifacts"):
        assert kept not in removed, f"make clean removes {kept}"
    assert "data" in removed and "models" in removed


def test_clean_registry_removes_them_on_purpose() -> None:
    removed = _dry_run("clean-registry").split()
    for gone in ("registry", "mlflow.db", "mlartifacts"):
        assert gone in removed
