"""What both flows' entry points share: the project on the path, quiet tools, the params."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def project_params(root: Path = ROOT) -> Any:
    """Put the project on ``sys.path``, quiet the tools' telemetry, keep Prefect's state in it.

    Args:
        root: The project folder (``params.yaml`` and ``.prefect/`` live there).

    Returns:
        The project's validated :class:`batteryops.core.config.Params`.
    """
    sys.path.insert(0, str(root))
    from batteryops.core.config import load_params
    from batteryops.core.workspace import QUIET_TOOLS

    for key, value in (QUIET_TOOLS | {"PREFECT_HOME": str(root / ".prefect")}).items():
        os.environ.setdefault(key, value)
    return load_params(root / "params.yaml")
