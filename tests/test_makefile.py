"""The Makefile's targets do what the README says of them."""

from __future__ import annotations

import re
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


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def test_run_puts_side_by_side_only_stages_that_share_no_output_and_keep_dag_order() -> None:
    """Each chain of ``make run`` that goes beside another finds its upstream stages done.

    The stages of two chains are not upstream of each other, and no output of one is an input or
    an output of the other (DVC would refuse the second's lock, or read a half-written file).
    """
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        graph = repo.index.graph  # edges go from a stage to the stages it depends on
        stages = {stage.addressing: stage for stage in graph.nodes}

        def upstream(name: str) -> set[str]:
            return {s.addressing for s in nx.descendants(graph, stages[name])}

        def paths(names: list[str], kind: str) -> set[str]:
            return {item.fs_path for name in names for item in getattr(stages[name], kind)}

        done: set[str] = set()
        pairs = 0
        for line in _dry_run("run").splitlines():
            for name in re.findall(r"dvc repro (\w+)(?: &&|;)", line):  # run before the chains
                done |= {name} | upstream(name)
            chains = [c.split() for c in re.findall(r"for stage in ([^;]+); do", line)]
            if chains:
                assert len(chains) == 2, line
                pairs += 1
                for chain, other in (chains, chains[::-1]):
                    for k, name in enumerate(chain):
                        assert upstream(name) <= done | set(chain[:k]), (name, line)
                        assert not upstream(name) & set(other), (name, other)
                    outs, used = paths(chain, "outs"), paths(other, "deps") | paths(other, "outs")
                    assert not any(_overlaps(a, b) for a in outs for b in used), (chain, other)
                done |= set(chains[0]) | set(chains[1])
            elif match := re.search(r"dvc repro( \w+)?$", line):
                named = [match.group(1).strip()] if match.group(1) else list(stages)
                for name in named:
                    done |= {name} | upstream(name)
        assert pairs >= 1 and done == set(stages)
