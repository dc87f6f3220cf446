"""Replay the pipeline's fleet through ``batteryops serve`` and check every runaway on the page.

Run after ``make run``, from the project root. It starts the real service (``batteryops serve
--replay``) on the pipeline's telemetry from ``--from-day`` on, at ``--speed`` x real time,
waits until every row is scored, and then, for every module of the truth table that ran away,
reads the first alarm the service opened on it between its fault start and its PNR (REST), and
looks at the live page in headless Chromium: every runaway module's cell must be marked in
alarm. Prints the lead times and the figures of the run. Bounded: one replay, on 127.0.0.1.

Usage: .venv/bin/python benchmarks/replay.py [--from-day 2.9] [--speed 2000] [--port 8799]
       [--screenshot docs/live-page-default.png]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd
import yaml

from batteryops.core.config import load_params

ROOT = Path(__file__).resolve().parent.parent


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _until(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(1.0)
    raise SystemExit(f"timed out waiting for {what}")


def _page(base: str, modules: list[str], screenshot: str | None) -> dict[str, bool]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1500,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(base + "/")
        _until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".module")) > 0, 60, "the page")
        time.sleep(2)
        rows = {
            r.get_attribute("data-module")
            for r in driver.find_elements(By.CSS_SELECTOR, "#alarms tr")
        }
        if screenshot:
            driver.save_screenshot(screenshot)
        return {m: m in rows for m in modules}
    finally:
        driver.quit()


def main() -> None:
    """Replay, check, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from-day", type=float, default=2.9)
    parser.add_argument("--speed", type=float, default=2000.0)
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--screenshot", default=None)
    args = parser.parse_args()
    paths = load_params(ROOT / "params.yaml").paths
    telemetry = ROOT / paths.telemetry_dir
    truth = pd.read_parquet(ROOT / paths.truth)
    first = pd.read_parquet(next(telemetry.glob("*.parquet")), columns=["timestamp"])
    start = first["timestamp"].min() + pd.Timedelta(days=args.from_day)
    rows = 0
    for part in telemetry.glob("*.parquet"):
        stamps = pd.read_parquet(part, columns=["timestamp"])["timestamp"]
        rows += int((stamps >= start).sum())
    base = f"http://127.0.0.1:{args.port}"
    # A database of its own: the project's serve/serve.db (and what it remembers) is untouched.
    scratch = Path(tempfile.mkdtemp(prefix="batteryops-replay-"))
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["serve"]["database_url"] = f"sqlite:///{scratch / 'serve.db'}"
    (scratch / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    command = [
        str(ROOT / ".venv/bin/batteryops"),
        "--params",
        str(scratch / "params.yaml"),
        "serve",
        "--port",
        str(args.port),
        "--replay",
        str(telemetry),
        "--speed",
        str(args.speed),
        "--replay-from",
        start.isoformat(),
    ]
    began = time.perf_counter()
    server = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _until(lambda: _get(f"{base}/api/health")["status"] == "ok", 600, "the service")

        def scored():
            status = _get(f"{base}/api/status")
            return status["received_rows"] >= rows and status["scored_rows"] >= rows

        _until(scored, 7200, "the replay to be scored")
        wall = time.perf_counter() - began
        status = _get(f"{base}/api/status")
        alarms = pd.DataFrame(_get(f"{base}/api/alarms?limit=10000"))
        runaway = truth.dropna(subset=["pnr_time"])
        lines, leads, missed = [], [], []
        for row in runaway.itertuples(index=False):
            fault = int(row.fault_start.value // 10**9)
            pnr = int(row.pnr_time.value // 10**9)
            mine = (
                alarms[
                    (alarms["module_id"] == row.module_id)
                    & (alarms["opened_ts"] >= fault)
                    & (alarms["opened_ts"] < pnr)
                ]
                if len(alarms)
                else alarms
            )
            if len(mine):
                lead = (pnr - int(mine["opened_ts"].min())) / 60.0
                leads.append(lead)
                lines.append(f"  {row.module_id} {row.fault_type}: alarm {lead:.1f} min before PNR")
            else:
                missed.append(row.module_id)
                lines.append(f"  {row.module_id} {row.fault_type}: NO alarm before PNR")
        on_page = _page(base, list(runaway["module_id"]), args.screenshot)
        quiet = set(truth.loc[truth["fault_type"] == "none", "module_id"])
        false = alarms[alarms["module_id"].isin(quiet)] if len(alarms) else alarms
        print(
            f"replayed {status['received_rows']:,} rows ({args.from_day} days on) at "
            f"{args.speed:g}x in {wall:.0f} s; scored {status['scored_rows']:,}"
        )
        print("\n".join(lines))
        # Held-out modules apart: the model was trained on the train split's runaways and its
        # threshold chosen on the validation split's; only the test split's are unseen.
        split_of = json.loads((ROOT / paths.split).read_text())["modules"]
        alarmed = set(runaway["module_id"]) - set(missed)
        for split in ("test", "validation", "train"):
            theirs = [m for m in runaway["module_id"] if split_of.get(m) == split]
            print(
                f"{split} runaways alarmed after the fault started and before PNR: "
                f"{sum(m in alarmed for m in theirs)}/{len(theirs)}"
            )
        print(
            f"all runaways alarmed before PNR: {len(leads)}/{len(runaway)}; lead min "
            f"{min(leads):.1f}, median {pd.Series(leads).median():.1f} min"
            if leads
            else "none"
        )
        print(
            f"runaway modules listed with an alarm on the page: {sum(on_page.values())}/"
            f"{len(on_page)}"
        )
        print(
            f"alarms on modules without a fault (any time, incl. beside a vented one): {len(false)}"
        )
        if missed:
            print("missed:", ", ".join(missed))
    finally:
        server.terminate()
        try:
            server.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # seen once after a long replay: do not hang on it
            server.kill()
            server.communicate()
            print("note: the service did not stop within 60 s of SIGTERM and was killed")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
