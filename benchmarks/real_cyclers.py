"""Read every real cycler export in ``../shared/realdata`` and print what each becomes.

    .venv/bin/python benchmarks/real_cyclers.py [--data DIR] [--out reports/real_cyclers.json]

Each file under ``formats/`` and ``cycling/`` goes through the cycle ingest the ``cycles`` stage
and ``batteryops health`` use (:func:`batteryops.ingest.cycle_files.ingest_cycle_files`), one
file at a time: its reader (or the generic per-cycle ingest), the cells and cycles kept, the
records, the rows quarantined and why, or the reason the whole file was refused. Sidecars
(metadata files a data file's reader reads itself) are listed as such. Nothing here is a
target: the issue asks that every file reads to the contract or is refused with a reason naming
what is missing, and this prints which.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from batteryops.core.config import load_params  # noqa: E402
from batteryops.core.io import write_json  # noqa: E402
from batteryops.ingest import cyclers  # noqa: E402
from batteryops.ingest.cycle_files import ingest_cycle_files  # noqa: E402

DATA = ROOT.parent / "shared" / "realdata"
SKIPPED = {".txt"}  # only in folders of .mat files: the NASA READMEs


def exports(data: Path) -> list[Path]:
    """The files to read: everything under formats/ and cycling/ but the NASA READMEs."""
    found = []
    for folder in ("formats", "cycling"):
        for path in sorted((data / folder).rglob("*")):
            readme = path.suffix in SKIPPED and "README" in path.name
            if path.is_file() and not readme:
                found.append(path)
    return found


def one(path: Path, params) -> dict:
    """What the cycle ingest makes of one file."""
    kind = cyclers.identify(path)
    if kind == "sidecar":
        return {"file": path.name, "result": "sidecar"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        began = time.perf_counter()
        try:
            summary = ingest_cycle_files(
                [path], out / "c.parquet", out / "q", params, out / "r.parquet"
            )
        except ValueError:  # no cycle row: the file refused, or every cycle set aside
            reasons = [json.loads(p.read_text()) for p in (out / "q").glob("*.reason.json")]
            rows = [r for r in reasons if "reasons" in r]
            if rows:  # read, but no cycle with a discharge (a rest, a formation charge, EIS)
                why = "; ".join(f"{k} x{n}" for k, n in rows[0]["reasons"].items())
                return {"file": path.name, "result": "read, no cycle kept", "reason": why}
            return {"file": path.name, "result": "refused", "reason": reasons[0]["reason"]}
        entry = summary["files"][0]
        cycles = pd.read_parquet(out / "c.parquet")
        records = pd.read_parquet(out / "r.parquet")
    return {
        "file": path.name,
        "result": "read",
        "reader": entry.get("layout"),
        "cells": int(cycles["cell_id"].nunique()),
        "cycles": len(cycles),
        "records": len(records),
        "quarantined": entry.get("rows_quarantined", 0),
        "reasons": entry.get("quarantine_reasons", {}),
        "capacity_ah": [
            round(float(cycles["capacity_ah"].min()), 4),
            round(float(cycles["capacity_ah"].max()), 4),
        ],  # fmt: skip
        "seconds": round(time.perf_counter() - began, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", default="reports/real_cyclers.json")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"{args.data} not found: the real data sets live in ../shared/realdata")
    params = load_params(ROOT / "params.yaml").cycle_ingest
    rows = [one(path, params) for path in exports(args.data)]
    for row in rows:
        if row["result"] == "read":
            print(
                f"{row['file'][:48]:48} {row['reader']:22} {row['cells']:3} cells "
                f"{row['cycles']:6} cycles {row['records']:8} records "
                f"{row['quarantined']:5} quarantined  {row['capacity_ah']} Ah"
            )
        else:
            print(f"{row['file'][:48]:48} {row['result']:22} {row.get('reason', '')[:110]}")
    counts = pd.Series([r["result"] for r in rows]).value_counts().to_dict()
    print(f"{len(rows)} files: {counts}")
    write_json({"files": rows, "counts": counts}, ROOT / args.out)


if __name__ == "__main__":
    main()
