"""Where the service's models come from: the registry's champions, reloaded when the alias moves."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from batteryops.core.config import Params
from batteryops.hazard.scoring import Scorer

log = logging.getLogger("batteryops.serve")


@dataclass
class Loaded:
    """A model version the service scores with, and what the page shows about it."""

    scorer: Scorer
    version: str
    info: dict[str, Any]


class ModelSource(Protocol):
    """Gives the current hazard model and says when another one should replace it."""

    def current(self) -> Loaded | None:
        """The model to score with now (None while there is none)."""

    def changed(self, version: str | None) -> bool:
        """Whether the source now holds another version than ``version``."""

    def health(self) -> tuple[Any, str] | None:
        """The SOH model and its version, if one is registered."""

    def health_version(self) -> str | None:
        """The SOH champion's version (cheap: no model is loaded)."""


class StaticSource:
    """One fixed model (tests, or a model file without a registry)."""

    def __init__(self, scorer: Scorer, version: str = "local", info: dict | None = None):
        self._loaded = Loaded(scorer, version, info or {"version": version})

    def current(self) -> Loaded | None:
        """The fixed model."""
        return self._loaded

    def changed(self, version: str | None) -> bool:
        """Never changes once loaded."""
        return version != self._loaded.version

    def health(self) -> tuple[Any, str] | None:
        """No SOH model."""
        return None

    def health_version(self) -> str | None:
        """No SOH model."""
        return None


class RegistrySource:
    """``models:/<tracking.model_name>@champion`` (and ``<health.model_name>@champion``)."""

    def __init__(self, params: Params, root: str | Path = "."):
        from batteryops.mlops import tracking

        self.params = params
        tracking.configure(params.tracking, root)

    def _version(self, name: str) -> str | None:
        from batteryops.mlops import registry

        return registry.alias_version(name, registry.CHAMPION)

    def current(self) -> Loaded | None:
        """Load the hazard champion with its operating point (None if none is registered)."""
        from batteryops.hazard import scoring
        from batteryops.mlops import registry

        name = self.params.tracking.model_name
        version = self._version(name)
        if version is None:
            return None
        scorer = scoring.load_scorer(f"models:/{name}/{version}")
        tags = registry.version_tags(name, version)
        info = {
            "name": name,
            "version": version,
            "uri": f"models:/{name}/{version}",
            "run_id": tags.get("run_id"),
            "git_commit": tags.get("git_commit"),
            "metrics": registry.metrics_from_tags(tags),
            "threshold": scorer.threshold,
            "persistence": {"k": scorer.alarm.persistence_k, "n": scorer.alarm.persistence_n},
        }
        log.info("scoring with %s version %s (threshold %.4f)", name, version, scorer.threshold)
        return Loaded(scorer, version, info)

    def changed(self, version: str | None) -> bool:
        """Whether champion now points elsewhere than ``version``."""
        return self._version(self.params.tracking.model_name) != version

    def health_version(self) -> str | None:
        """The version ``<health.model_name>@champion`` points at."""
        return self._version(self.params.health.model_name)

    def health(self) -> tuple[Any, str] | None:
        """The SOH champion (the :class:`~batteryops.health.model.HealthModel`) and version."""
        from batteryops.health import pyfunc as health_pyfunc

        name = self.params.health.model_name
        version = self._version(name)
        if version is None:
            return None
        return health_pyfunc.load_model(f"models:/{name}/{version}"), version
