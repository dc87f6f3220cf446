"""The ask tools' read-only view of the service: its store, the serving model, the reports.

:class:`StoreReader` is the :class:`batteryops.ask.tools.FleetReader` of ``POST /api/ask`` (over
the running service) and of ``batteryops ask`` (over the service's database, with the champion's
registry record). It exposes reads only. :func:`asker` builds the
:class:`batteryops.ask.asker.Asker` the params describe.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batteryops.ask.asker import Asker
from batteryops.ask.language_model import LanguageModel
from batteryops.core.config import Params
from batteryops.serve import monitor
from batteryops.serve.store import Store


class StoreReader:
    """Reads of the service's store and the project's reports; nothing here writes."""

    def __init__(
        self,
        store: Store,
        params: Params,
        root: Path,
        model_info: Callable[[], dict[str, Any] | None],
    ):
        self._store, self._params, self._root, self._model_info = store, params, root, model_info

    def modules(self) -> list[dict[str, Any]]:
        """Every module's latest state."""
        return self._store.modules()

    def alarms(
        self, state: str | None, limit: int, module_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Alarms, newest first."""
        return self._store.alarms(state, limit, module_id)

    def hottest(
        self, since_ts: int, until_ts: int, limit: int, rack_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Peak temperatures per module over a window, hottest first."""
        return self._store.hottest(since_ts, until_ts, limit, rack_id)

    def module_window(self, module_id: str, since_ts: int, until_ts: int) -> dict[str, Any]:
        """One module over a window."""
        return self._store.module_window(module_id, since_ts, until_ts)

    def health(self) -> list[dict[str, Any]]:
        """Per-cell SOH and RUL."""
        return self._store.health()

    def model(self) -> dict[str, Any] | None:
        """The serving model's info, with the registry's decision on its version."""
        info = self._model_info()
        if info is None:
            return None
        from batteryops.mlops import registry

        audit = self._root / self._params.paths.audit_log
        decided = [
            e
            for e in (registry.read_audit(audit) if audit.is_file() else [])
            if e.get("model") == info.get("name")
            and str(e.get("candidate_version")) == str(info.get("version"))
        ]
        if decided:
            info = info | {
                "decision": decided[-1].get("decision"),
                "reasons": decided[-1].get("reasons"),
            }
        return info

    def monitoring(self) -> dict[str, Any]:
        """The pipeline's drift metrics and the last monitoring run, where they exist."""
        return monitoring_status(self._root, self._params)


def monitoring_status(root: Path, params: Params) -> dict[str, Any]:
    """Drift status: the pipeline's drift metrics and the last monitoring run."""
    status: dict[str, Any] = {}
    for name, path in (
        ("pipeline_drift", root / params.paths.metrics.drift),
        ("monitoring", root / monitor.METRICS),
    ):
        if path.is_file():
            with contextlib.suppress(ValueError, OSError):
                status[name] = json.loads(path.read_text())
    return status


def champion_info(params: Params, root: Path) -> dict[str, Any] | None:
    """The hazard champion's registry record (no model loaded), or None without one."""
    from batteryops.mlops import registry, tracking

    tracking.configure(params.tracking, root)
    name = params.tracking.model_name
    version = registry.alias_version(name, registry.CHAMPION)
    if version is None:
        return None
    tags = registry.version_tags(name, version)
    metrics = registry.metrics_from_tags(tags)
    return {
        "name": name,
        "version": version,
        "metrics": metrics,
        "threshold": metrics.get("threshold"),
    }


def asker(reader: StoreReader, params: Params, use_model: bool | None = None) -> Asker:
    """The asker of ``params.ask``: with its language model unless ``use_model`` is False."""
    settings = params.ask
    wanted = settings.use_model if use_model is None else use_model
    model = (
        LanguageModel(
            settings.endpoint,
            settings.model,
            settings.timeout_s,
            settings.connect_timeout_s,
            settings.retry_after_s,
            settings.api_key_env,
        )
        if wanted
        else None
    )
    return Asker(reader, settings, model)
