"""The ``batteryops`` command line: what users do by hand beside ``dvc repro``.

Commands:
    gate            CI metric-threshold check (exit 1 on any failed gate).
    status          What is champion (and challenger), its metrics and lineage.
    promote         Move ``champion`` to a version (a recorded, human decision).
    rollback        Move ``champion`` back to the previous champion from the audit log.
    health          Cycle data -> per-cell SOH, RUL with an interval and a health class.
    ingest          Logger/BMS exports -> canonical telemetry (Parquet per rack) + summary JSON.
    simulate        Simulate the fleet of params into a directory (Parquet or a raw logger CSV).
    simulate-oven   One 18650 cell with the Kim 2007 kinetics in an oven.
    serve           The live service: REST, WebSocket and the live page over the champions.
    monitor         Served data against the training data, proxies, feedback; alert on a breach.
    collect         Served telemetry + operators' verdicts -> a DVC-tracked batch the next run
                    trains on.
    ask             A plain-language question about the fleet, answered by a read-only tool.
    llm-serve       Serve the embedded small language model (optional extra) for ``ask``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from batteryops.core.config import PARAMS_FILE, Params, ParamsError, load_params

EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
USAGE = "2 bad params, input or model (the message names it)"
# What each command's exit code means (printed at the end of its --help).
EXIT_CODES = {
    "gate": ("0 every gate holds", "1 a gate fails", USAGE),
    "status": ("0 shown", USAGE),
    "promote": ("0 moved", "1 refused: the version fails a gate (--force overrides)", USAGE),
    "rollback": ("0 moved back", "2 no earlier champion in the audit log, or bad params"),
    "health": ("0 graded", USAGE),
    "ingest": ("0 rows written", "1 no usable rows (every file quarantined)", USAGE),
    "score": ("0 scored", "1 no usable telemetry (see the quarantine)", USAGE),
    "simulate": ("0 written", USAGE),
    "serve": ("0 stopped cleanly", USAGE),
    "monitor": ("0 no breach", "1 a monitoring limit is breached", USAGE),
    "simulate-oven": ("0 simulated", "2 bad arguments"),
    "collect": ("0 collected (or nothing landed since the last collection)", USAGE),
    "ask": ("0 answered (a refusal says why)", "2 bad params, an empty question or no database"),
    "llm-serve": ("0 stopped", "2 the optional extra is not installed"),
}


def _read_metrics(path: str, base: str | None = None) -> dict[str, Any] | None:
    """A metrics JSON from the work tree, or from a git ref when ``base`` is given."""
    if base is None:
        file = Path(path)
        if not file.is_file():
            return None
        text, where = file.read_text(), str(file)
    else:
        shown = subprocess.run(["git", "show", f"{base}:{path}"], capture_output=True, text=True)
        if shown.returncode != 0:
            return None
        text, where = shown.stdout, f"{base}:{path}"
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise MetricsFileError(f"{where}: not valid JSON ({error})") from None


class MetricsFileError(ValueError):
    """A metrics file exists but cannot be read."""


def cmd_gate(params: Params, args: argparse.Namespace) -> int:
    """Check every registered model's metrics files against its gates; optionally against a ref.

    The hazard model's (``gates``) and, when ``metrics/soh.json`` exists, the health model's
    (``gates.soh``): one table each, exit 1 when any gate of either fails.
    """
    from batteryops.mlops import gates

    paths = params.paths.metrics
    hazard = _read_metrics(args.metrics or paths.hazard)
    if hazard is None:
        print(
            f"error: {args.metrics or paths.hazard} not found (run `dvc repro` first)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    base = None
    if args.base:
        base = _read_metrics(args.metrics or paths.hazard, args.base)
        if base is None:
            print(f"note: no {paths.hazard} at {args.base}; no-regression gates skipped")
    results = gates.evaluate_gates(
        hazard,
        params.gates,
        validation=_read_metrics(paths.validation),
        champion=base,
        generalization=_read_metrics(paths.generalization),
    )
    print(f"{params.tracking.model_name} ({args.metrics or paths.hazard})")
    print(gates.format_table(results))
    drift = _read_metrics(paths.drift)
    if drift is not None and "share_of_drifted_columns" in drift:
        print(
            f"drift (no gate): {drift['share_of_drifted_columns']:.2f} of feature columns in the "
            f"{drift.get('current', 'newest data')}; retrain: {bool(drift.get('retrain'))}"
        )
    soh = _read_metrics(paths.soh)
    if soh is not None:
        soh_base = _read_metrics(paths.soh, args.base) if args.base else None
        soh_results = gates.evaluate_soh_gates(
            soh,
            params.gates.soh,
            validation=_read_metrics(paths.cycle_validation),
            champion=soh_base,
        )
        print(f"\n{params.health.model_name} ({paths.soh})")
        print(gates.format_table(soh_results))
        results = results + soh_results
    else:
        print(f"\nnote: no {paths.soh}; the {params.health.model_name} gates are not checked")
    failed = [r for r in results if not r.passed]
    if failed:
        print(f"\n{len(failed)} gate(s) failed: " + "; ".join(r.reason for r in failed))
        return EXIT_GATE_FAILED
    print("\nevery gate holds")
    return 0


def cmd_status(params: Params, args: argparse.Namespace) -> int:
    """Print the champion and challenger with metrics and lineage."""
    from batteryops.mlops import registry, tracking

    tracking.configure(params.tracking)
    name = args.model or params.tracking.model_name
    report: dict[str, Any] = {"model": name}
    for alias in (registry.CHAMPION, registry.CHALLENGER):
        version = registry.alias_version(name, alias)
        if version is None:
            report[alias] = None
            continue
        tags = registry.version_tags(name, version)
        report[alias] = {
            "version": int(version),
            "uri": f"models:/{name}@{alias}",
            "metrics": registry.metrics_from_tags(tags),
            "run_id": tags.get("run_id"),
            "git_commit": tags.get("git_commit"),
        }
    history = [e for e in registry.read_audit(params.paths.audit_log) if e.get("model") == name]
    report["recent_decisions"] = [
        {
            k: e.get(k)
            for k in (
                "time",
                "action",
                "candidate_version",
                "champion_before",
                "champion_after",
                "decision",
                "reasons",
            )
        }
        for e in history[-args.history :]
    ]
    print(json.dumps(report, indent=2, default=str))
    return 0


def cmd_promote(params: Params, args: argparse.Namespace) -> int:
    """Promote a version by hand; its recorded metrics must clear the absolute gates, or --force."""
    from batteryops.mlops import gates, registry, tracking

    tracking.configure(params.tracking)
    name = args.model or params.tracking.model_name
    try:
        recorded = registry.metrics_from_tags(registry.version_tags(name, args.version))
    except Exception as error:  # noqa: BLE001 - MLflow raises its own exception types
        print(f"error: model '{name}' has no version {args.version} ({error})", file=sys.stderr)
        return EXIT_USAGE
    if name == params.health.model_name:
        results = gates.evaluate_soh_gates(recorded, params.gates.soh)
    else:
        results = gates.evaluate_gates(recorded, params.gates)
    print(gates.format_table(results))
    if not all(r.passed for r in results) and not args.force:
        print(
            f"\nrefused: version {args.version} fails a gate on its recorded metrics "
            "(use --force to override; the override is recorded)"
        )
        return EXIT_GATE_FAILED
    entry = registry.move_champion(
        name,
        args.version,
        params.paths.audit_log,
        "promote",
        args.reason or "manual promotion",
        {"forced": bool(args.force), "metrics": recorded},
    )
    print(f"\nchampion of {name}: {entry['champion_before']} -> {entry['champion_after']}")
    return 0


def cmd_rollback(params: Params, args: argparse.Namespace) -> int:
    """Move champion back to the previous champion recorded in the audit log (or ``--to``)."""
    from batteryops.mlops import registry, tracking

    tracking.configure(params.tracking)
    name = args.model or params.tracking.model_name
    current = registry.alias_version(name, registry.CHAMPION)
    try:
        target = args.to or registry.rollback_target(
            registry.read_audit(params.paths.audit_log), name, current
        )
        entry = registry.move_champion(
            name, target, params.paths.audit_log, "rollback", args.reason or "rollback", {}
        )
    except registry.RegistryError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"champion of {name}: {entry['champion_before']} -> {entry['champion_after']}")
    return 0


def cmd_health(params: Params, args: argparse.Namespace) -> int:
    """Per-cell SOH, RUL with an interval and a health class from cycle data."""
    import pandas as pd

    from batteryops.health import pyfunc as health_pyfunc
    from batteryops.health.model import IncompatibleModelError
    from batteryops.ingest.cycle_files import ingest_cycle_files
    from batteryops.mlops import tracking

    tracking.configure(params.tracking)
    uri = _model_uri(args, params.health.model_name)
    out = Path(args.out)
    quarantine = Path(args.quarantine or out.with_name(out.stem + "_quarantine"))
    try:  # the model first: no ingest for nothing
        model = health_pyfunc.load_model(uri)
    except IncompatibleModelError as error:
        name = args.model or params.health.model_name
        print(
            f"error: {uri}: {error}. Promote a version trained by this code (`batteryops status "
            f"--model {name}` lists them; `batteryops promote N --model {name} --reason ...`) or "
            "pass --version N",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except Exception as error:  # noqa: BLE001 - MLflow raises its own exception types
        print(f"error: cannot load {uri} ({error}); run `make run` first", file=sys.stderr)
        return EXIT_USAGE
    files = _expand(args.inputs)
    parquet = [f for f in files if f.suffix in (".parquet", ".pq")]
    exports = [f for f in files if f not in parquet]
    frames = [pd.read_parquet(f) for f in parquet]
    if exports:
        canonical = out.with_name(out.stem + "_cycles.parquet")
        summary = ingest_cycle_files(exports, canonical, quarantine, params.cycle_ingest)
        frames.append(pd.read_parquet(canonical))
        print(json.dumps({"ingest": summary}, default=str), file=sys.stderr)
    curves = pd.read_parquet(args.curves) if args.curves else None
    result = model.predict_cells(pd.concat(frames, ignore_index=True), curves)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        result.to_csv(out, index=False)
    else:
        result.to_parquet(out, index=False)
    print(result.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def _expand(inputs: list[str]) -> list[Path]:
    """Files named, and the files inside folders named, in a stable order."""
    files: list[Path] = []
    for item in map(Path, inputs):
        files += sorted(p for p in item.rglob("*") if p.is_file()) if item.is_dir() else [item]
    return files


def cmd_ingest(params: Params, args: argparse.Namespace) -> int:
    """Ingest files or folders into ``--out`` (one Parquet file per rack, ``ingest.json``)."""
    from batteryops.core.io import atomic_dir, write_json
    from batteryops.ingest import telemetry_files

    out = Path(args.out)
    quarantine_dir = Path(args.quarantine or out / "quarantine")
    try:
        telemetry, summary = telemetry_files.ingest(args.inputs, params.ingest, quarantine_dir)
    except (FileNotFoundError, telemetry_files.ModuleIdError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    with atomic_dir(out) as tmp:
        telemetry_files.write_racks(telemetry, tmp)
        write_json(summary, Path(tmp) / "ingest.json")
        if quarantine_dir.parent == out and quarantine_dir.is_dir():
            shutil.move(str(quarantine_dir), Path(tmp) / quarantine_dir.name)
    brief = {k: v for k, v in summary.items() if k != "files"}
    print(json.dumps(brief | {"out": str(out), "quarantine": str(quarantine_dir)}, indent=2))
    return 0 if summary["rows_out"] else EXIT_GATE_FAILED


def cmd_score(params: Params, args: argparse.Namespace) -> int:
    """Score files with the champion (or ``--model``); write per module and second to ``--out``."""
    import time

    from batteryops.core.io import atomic_path
    from batteryops.hazard import events, scoring
    from batteryops.ingest import telemetry_files
    from batteryops.mlops import tracking

    started = time.perf_counter()
    out = Path(args.out)
    if out.suffix not in (".parquet", ".csv"):
        print(f"error: {out}: the output must end in .parquet or .csv", file=sys.stderr)
        return EXIT_USAGE
    tracking.configure(params.tracking)
    uri = _model_uri(args, params.tracking.model_name)
    try:
        scorer = scoring.load_scorer(uri)
    except Exception as error:  # MLflow raises many types for a missing model or alias
        print(f"error: cannot load model {uri}: {error}", file=sys.stderr)
        return EXIT_USAGE
    quarantine_dir = Path(args.quarantine or out.parent / f"{out.stem}_quarantine")
    try:
        telemetry, summary = telemetry_files.ingest(args.inputs, params.ingest, quarantine_dir)
    except (FileNotFoundError, telemetry_files.ModuleIdError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if telemetry.empty:
        print(
            f"error: no usable telemetry in {args.inputs} (see {quarantine_dir})", file=sys.stderr
        )
        return EXIT_GATE_FAILED
    try:
        scored = scorer.score(telemetry)
    except events.LoggerPeriodError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    with atomic_path(out) as tmp:
        if out.suffix == ".csv":
            scored.to_csv(tmp, index=False)
        else:
            scored.to_parquet(tmp, index=False)
    alarms = scoring.alarm_summary(scored)
    report = {
        "model": uri,
        "threshold": scorer.threshold,
        "rows": int(len(scored)),
        "modules": int(scored["module_id"].nunique()),
        "files_rejected": summary.get("files_rejected", 0),
        "alarmed_modules": len(alarms),
        "alarms": alarms,
        "out": str(out),
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(report, indent=2, default=str))
    return 0


def cmd_simulate(params: Params, args: argparse.Namespace) -> int:
    """Simulate the fleet into ``--out`` (one file per rack) with ``truth.parquet`` beside it."""
    from batteryops.core.io import atomic_dir, write_parquet
    from batteryops.sim import fleet_writer, simulate

    sim = params.simulate
    if args.seed is not None:
        sim = sim.model_copy(update={"seed": args.seed})
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} exists and is not empty", file=sys.stderr)
        return EXIT_USAGE

    def progress(done_s: int, total_s: int) -> None:
        print(f"simulated {done_s} of {total_s} s", file=sys.stderr, flush=True)

    with atomic_dir(out) as tmp:
        truth = fleet_writer.write_fleet(sim, tmp, progress, file_format=args.format)
        write_parquet(simulate.truth_with_times(sim, truth), Path(tmp) / "truth.parquet")
    runaways = int(truth["pnr_time"].notna().sum())
    print(
        json.dumps(
            {"out": str(out), "format": args.format, "modules": len(truth), "runaways": runaways}
        )
    )
    return 0


def cmd_simulate_oven(args: argparse.Namespace) -> int:
    """Print the oven test outcome as JSON."""
    from batteryops.physics.oven import simulate_oven

    result = simulate_oven(args.oven_c, hours=args.hours)
    print(json.dumps({"oven_c": args.oven_c, "hours": args.hours} | result.as_dict()))
    return 0


def cmd_serve(params: Params, args: argparse.Namespace) -> int:
    """Run the live service (``batteryops.serve``)."""
    from batteryops.serve import server

    logging.getLogger("batteryops").setLevel(logging.INFO)
    return server.run(params, args)


def cmd_monitor(params: Params, args: argparse.Namespace) -> int:
    """One monitoring run over the service's database; exit 1 on a breach."""
    from batteryops.serve.monitor import monitor
    from batteryops.serve.notify import Notifier
    from batteryops.serve.server import database_url
    from batteryops.serve.store import Store

    if args.retrain:
        section = params.serve.monitor.model_copy(update={"retrain_on_breach": True})
        params = params.model_copy(
            update={"serve": params.serve.model_copy(update={"monitor": section})}
        )
    root = Path(".").resolve()
    notifier = Notifier(params.serve.alerts)
    try:
        summary = monitor(params, root, Store(database_url(params, root)), notifier)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        notifier.close()
    print(json.dumps({k: summary[k] for k in ("verdict", "breaches", "proxies", "feedback")}))
    return EXIT_GATE_FAILED if summary["breach"] else 0


def cmd_collect(params: Params, args: argparse.Namespace) -> int:
    """Collect what the service landed, with the operators' verdicts, into ``paths.served_dir``."""
    from batteryops.serve.landing import Landing, collect
    from batteryops.serve.server import database_url
    from batteryops.serve.store import Store

    root = Path(".").resolve()
    landing = Landing(root / params.paths.landing_dir)
    try:
        summary = collect(landing, Store(database_url(params, root)), params.paths.served_dir, root)
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(summary))
    if summary["batch"]:
        print(
            f"next: git add {summary['tracked']} && git commit (versions the batch); "
            "dvc repro trains on it",
            file=sys.stderr,
        )
    return 0


def cmd_ask(params: Params, args: argparse.Namespace) -> int:
    """Answer a question from the service's database, the registry and the reports."""
    from batteryops.ask.asker import QuestionError
    from batteryops.serve import asking
    from batteryops.serve.server import database_url
    from batteryops.serve.store import Store

    root = Path(".").resolve()
    url = args.database or database_url(params, root)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        print(
            f"error: no service database at {url} (run `batteryops serve` first)", file=sys.stderr
        )
        return EXIT_USAGE
    if args.endpoint or args.llm:
        ask = params.ask.model_copy(
            update={k: v for k, v in (("endpoint", args.endpoint), ("model", args.llm)) if v}
        )
        params = params.model_copy(update={"ask": ask})
    reader = asking.StoreReader(
        Store(url, read_only=True), params, root, lambda: asking.champion_info(params, root)
    )
    asker = asking.asker(reader, params, use_model=False if args.no_model else None)
    try:
        answer = asker.ask(" ".join(args.question))
    except QuestionError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(answer.to_dict(), indent=2, default=str) if args.json else answer.answer)
    return 0


def cmd_llm_serve(params: Params, args: argparse.Namespace) -> int:
    """Serve the embedded SmolLM2 at an OpenAI-compatible endpoint until interrupted."""
    from batteryops.ask.local_model import LocalModelMissingError, server_command

    try:
        command = server_command(args.host, args.port)
    except LocalModelMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"serving {command[command.index('--model') + 1]} at http://{args.host}:{args.port}/v1")
    try:
        code = subprocess.run(command, check=False).returncode
    except KeyboardInterrupt:
        return 0
    if code == -signal.SIGILL:
        print(
            "error: llama.cpp died of an illegal instruction: it was built for another CPU "
            "(or natively, for CPU features this machine lists but does not run); rebuild "
            "it with `make llm`, which builds for x86-64-v3",
            file=sys.stderr,
        )
    return 128 - code if code < 0 else code  # a signal's exit status, as a shell gives it


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="batteryops", description=__doc__.split("\n")[0])
    parser.add_argument("--params", default=PARAMS_FILE, help="params file (default: params.yaml)")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_registry_commands(commands)
    _add_data_commands(commands)
    _add_service_commands(commands)
    oven = commands.add_parser("simulate-oven", help="single-cell oven test of the kinetics")
    oven.add_argument("--oven-c", type=float, required=True, help="oven temperature in C")
    oven.add_argument("--hours", type=float, default=3.0, help="longest time simulated")
    _describe(commands)
    return parser


def _describe(commands: argparse._SubParsersAction) -> None:
    """Each command's help line as its description, and its exit codes after its options."""
    helps = {action.dest: action.help for action in commands._choices_actions}
    for name, sub in commands.choices.items():
        sub.description = sub.description or helps.get(name)
        sub.epilog = "exit codes:\n  " + "\n  ".join(EXIT_CODES[name])
        sub.formatter_class = argparse.RawDescriptionHelpFormatter


def _add_registry_commands(commands: argparse._SubParsersAction) -> None:
    """``gate``, ``status``, ``promote`` and ``rollback``."""
    gate = commands.add_parser("gate", help="check metrics against the gates in params (CI)")
    gate.add_argument("--metrics", help="hazard metrics JSON (default from params)")
    gate.add_argument("--base", help="git ref whose metrics the candidate must not regress from")

    status = commands.add_parser("status", help="champion, challenger, metrics and lineage")
    status.add_argument("--history", type=int, default=5, help="audit entries to show")
    _add_registered_model(status)

    promote = commands.add_parser("promote", help="move champion to a version")
    promote.add_argument("version", help="model version number")
    _add_reason(promote)
    promote.add_argument("--force", action="store_true", help="promote even if a gate fails")
    _add_registered_model(promote)

    rollback = commands.add_parser("rollback", help="move champion back to the previous one")
    rollback.add_argument("--to", help="version to roll back to (default: from the audit log)")
    _add_reason(rollback)
    _add_registered_model(rollback)


def _add_reason(command: argparse.ArgumentParser) -> None:
    command.add_argument("--reason", help="why (recorded in the audit log)")


def _add_registered_model(command: argparse.ArgumentParser) -> None:
    command.add_argument("--model", help="registered model (default: tracking.model_name)")


def _add_model_choice(command: argparse.ArgumentParser, default: str) -> None:
    """``--model`` (a registered name, as everywhere), ``--version`` or ``--uri``."""
    command.add_argument("--model", help=f"registered model (default: {default})")
    which = command.add_mutually_exclusive_group()
    which.add_argument("--version", help="its version (default: the champion)")
    which.add_argument("--uri", help="any MLflow model URI instead (e.g. runs:/<id>/model)")


def _model_uri(args: argparse.Namespace, default_name: str) -> str:
    """The model ``--uri`` names, else ``--model`` (or the default) at ``--version`` or champion."""
    if args.uri:
        return args.uri
    name = args.model or default_name
    return f"models:/{name}/{args.version}" if args.version else f"models:/{name}@champion"


def _add_data_commands(commands: argparse._SubParsersAction) -> None:
    """``health``, ``ingest``, ``score`` and ``simulate``: files in, files out."""
    health = commands.add_parser("health", help="per-cell SOH, RUL and health class")
    health.add_argument("inputs", nargs="+", help="cycler exports or canonical cycle Parquet")
    health.add_argument("--out", required=True, help="output file (.parquet or .csv)")
    health.add_argument("--curves", help="low-rate curves Parquet (cell_id, cycle, voltage_v, ...)")
    _add_model_choice(health, "health.model_name")
    health.add_argument("--quarantine", help="where bad rows go (default: beside --out)")

    ing = commands.add_parser("ingest", help="logger/BMS exports -> canonical telemetry")
    ing.add_argument("inputs", nargs="+", help="files or folders (CSV, TSV, gzip, Parquet)")
    ing.add_argument("--out", required=True, help="output folder (replaced whole)")
    ing.add_argument("--quarantine", help="where unusable files go (default: OUT/quarantine)")

    score = commands.add_parser(
        "score", help="hazard, alarm, current limit and explanation per module and second"
    )
    score.add_argument("inputs", nargs="+", help="logger exports or canonical Parquet (or folders)")
    score.add_argument("--out", required=True, help="output file (.parquet or .csv)")
    _add_model_choice(score, "tracking.model_name")
    score.add_argument("--quarantine", help="where unusable files go (default: beside --out)")

    sim = commands.add_parser("simulate", help="simulate the fleet of params into a directory")
    sim.add_argument("--out", required=True, help="directory to create (must be new or empty)")
    sim.add_argument(
        "--format",
        choices=["parquet", "logger-csv"],
        default="parquet",
        help="canonical Parquet, or a raw logger CSV with duplicates and clock jitter",
    )
    sim.add_argument("--seed", type=int, help="override simulate.seed")


def _add_service_commands(commands: argparse._SubParsersAction) -> None:
    """``serve``, ``monitor``, ``collect``, ``ask`` and ``llm-serve``."""
    from batteryops.ask import local_model

    serve = commands.add_parser("serve", help="live scoring service, REST API and live page")
    serve.add_argument("--host", help="address to listen on (default serve.host: localhost)")
    serve.add_argument("--port", type=int, help="port (default serve.port)")
    serve.add_argument(
        "--replay",
        nargs="?",
        const="data/interim/telemetry",
        help="stream recorded telemetry in (default: the pipeline's data/interim/telemetry)",
    )
    serve.add_argument("--speed", type=float, help="replay at N x real time (serve.replay_speed)")
    serve.add_argument("--replay-from", help="replay from this UTC time (ISO 8601)")
    serve.add_argument("--replay-hours", type=float, help="replay this many hours of data")
    serve.add_argument("--log-level", default="warning", help="uvicorn log level")

    mon = commands.add_parser("monitor", help="check the served data once (drift, proxies)")
    mon.add_argument("--retrain", action="store_true", help="start the pipeline on a breach")
    commands.add_parser(
        "collect", help="served telemetry and operators' verdicts into the next training data"
    )
    ask = commands.add_parser("ask", help="ask the fleet a question in plain language")
    ask.add_argument("question", nargs="+", help='e.g. "which modules ran hottest overnight?"')
    ask.add_argument("--no-model", action="store_true", help="the deterministic router only")
    ask.add_argument("--endpoint", help="OpenAI-compatible endpoint (default ask.endpoint)")
    ask.add_argument("--llm", help="the endpoint's model name (default ask.model)")
    ask.add_argument("--database", help="the service's database URL (default serve.database_url)")
    ask.add_argument("--json", action="store_true", help="the whole answer: tool, args, facts")
    llm = commands.add_parser("llm-serve", help="serve the embedded small model for ask")
    llm.add_argument("--host", default="127.0.0.1")
    llm.add_argument("--port", type=int, default=local_model.PORT, help="(point ask.endpoint here)")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``batteryops`` command."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.command == "simulate-oven":
        return cmd_simulate_oven(args)
    try:
        params = load_params(args.params)
    except ParamsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    handlers = {
        "gate": cmd_gate,
        "status": cmd_status,
        "promote": cmd_promote,
        "rollback": cmd_rollback,
        "health": cmd_health,
        "simulate": cmd_simulate,
        "ingest": cmd_ingest,
        "score": cmd_score,
        "serve": cmd_serve,
        "monitor": cmd_monitor,
        "collect": cmd_collect,
        "ask": cmd_ask,
        "llm-serve": cmd_llm_serve,
    }
    try:
        return handlers[args.command](params, args)
    except MetricsFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
