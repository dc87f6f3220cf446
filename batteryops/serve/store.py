"""The service's database: scores, module state, alarms, operator feedback and SOH.

SQLAlchemy Core over SQLite by default (``serve.database_url``, a file in the project, WAL
journal so the page reads while the scorer writes); a PostgreSQL URL switches a team to a
server database with the same tables. Every write of one scoring tick is one transaction: a
tick is stored whole or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

METADATA = sa.MetaData()
# Alarm and feedback ids: 64-bit like the API's (routes.MAX_ALARM_ID); on SQLite an INTEGER
# primary key is already 64 bits and the only type that autoincrements.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _scored_second() -> list[sa.Column]:
    """What one scored second says of a module: in ``scores`` and (its newest) in ``modules``."""
    return [
        sa.Column("probability", sa.Float),
        sa.Column("alarm", sa.Boolean, nullable=False),
        sa.Column("current_limit_a", sa.Float),
        sa.Column("forecast_c", sa.Float),
        sa.Column("temp_max_c", sa.Float),
    ]


SCORES = sa.Table(
    "scores",
    METADATA,
    sa.Column("module_id", sa.String(64), primary_key=True),
    sa.Column("ts", sa.BigInteger, primary_key=True),  # UTC epoch seconds
    sa.Column("rack_id", sa.String(64), nullable=False),
    *_scored_second(),
    sa.Column("gas_co_ppm", sa.Float),
    sa.Column("current_a", sa.Float),
    sa.Column("temp_avg_c", sa.Float),
    sa.Column("ambient_c", sa.Float),
    sa.Column("soc_pct", sa.Float),
    sa.Column("voltage_v", sa.Float),
)
# The served signals the monitoring compares with the training data.
MONITORED = [
    "temp_max_c",
    "temp_avg_c",
    "ambient_c",
    "current_a",
    "soc_pct",
    "voltage_v",
    "gas_co_ppm",
]

MODULES = sa.Table(
    "modules",
    METADATA,
    sa.Column("module_id", sa.String(64), primary_key=True),
    sa.Column("rack_id", sa.String(64), nullable=False),
    sa.Column("first_ts", sa.BigInteger, nullable=False),
    sa.Column("last_ts", sa.BigInteger, nullable=False),
    *_scored_second(),
    sa.Column("top_features", sa.Text),
    sa.Column("model_version", sa.String(32)),
)

ALARMS = sa.Table(
    "alarms",
    METADATA,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("module_id", sa.String(64), nullable=False, index=True),
    sa.Column("rack_id", sa.String(64), nullable=False),
    sa.Column("opened_ts", sa.BigInteger, nullable=False),
    sa.Column("last_ts", sa.BigInteger, nullable=False),
    sa.Column("closed_ts", sa.BigInteger),
    sa.Column("peak_probability", sa.Float, nullable=False),
    sa.Column("top_features", sa.Text, nullable=False, default=""),
    sa.Column("model_version", sa.String(32)),
    sa.Column("review", sa.String(16), nullable=False, default="none"),  # none|acknowledged|false
    sa.Column("reviewed_at", sa.Float),
    sa.Column("reviewed_by", sa.String(128)),
    sa.Column("note", sa.Text),
)

FEEDBACK = sa.Table(
    "feedback",
    METADATA,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("alarm_id", ID, sa.ForeignKey("alarms.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("by", sa.String(128)),
    sa.Column("note", sa.Text),
)

HEALTH = sa.Table(
    "health",
    METADATA,
    sa.Column("cell_id", sa.String(64), primary_key=True),
    sa.Column("cycle", sa.Integer, nullable=False),
    sa.Column("soh", sa.Float),
    sa.Column("rul_cycles", sa.Float),
    sa.Column("rul_low_cycles", sa.Float),
    sa.Column("rul_high_cycles", sa.Float),
    sa.Column("health_class", sa.String(16)),
    sa.Column("model_version", sa.String(32)),
    sa.Column("at", sa.Float, nullable=False),
)

REVIEWS = ("acknowledged", "false_alarm", "true_alarm")


def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=sa.pool.StaticPool if url.endswith(":memory:") else None,
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class Store:
    """Typed reads and whole-tick writes over the service's tables."""

    def __init__(self, url: str, read_only: bool = False):
        """Open (and create the tables of) the database at ``url``.

        ``read_only``: neither the tables nor SQLite's journal mode are touched, and a SQLite
        file is opened read-only (``batteryops ask`` reads the service's database this way).
        """
        if read_only:
            sqlite = url.startswith("sqlite:///") and ":memory:" not in url
            path = url.removeprefix("sqlite:///")
            self.engine = sa.create_engine(
                f"sqlite:///file:{path}?mode=ro&uri=true" if sqlite else url
            )
            return
        self.engine = _engine(url)
        METADATA.create_all(self.engine)

    def _upsert(self, table: sa.Table, keys: list[str], keep: tuple[str, ...] = ()) -> Any:
        """INSERT ... ON CONFLICT (keys) DO UPDATE every column but the keys and ``keep``."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(table)
        updates = {
            c.name: statement.excluded[c.name]
            for c in table.columns
            if c.name not in keys and c.name not in keep
        }
        return statement.on_conflict_do_update(index_elements=keys, set_=updates)

    # ---- writes (the scorer's thread) -----------------------------------------------------
    def write_tick(
        self,
        scores: list[dict[str, Any]],
        modules: list[dict[str, Any]],
        opened: list[dict[str, Any]],
        updated: list[dict[str, Any]],
    ) -> list[int]:
        """Store one scoring tick in one transaction; returns the ids of the opened alarms.

        Args:
            scores: Rows of :data:`SCORES`.
            modules: Latest state per module (rows of :data:`MODULES`; ``first_ts`` kept).
            opened: New alarms (rows of :data:`ALARMS` without ``id``).
            updated: ``{"id", "last_ts", "peak_probability", "closed_ts", "top_features"}``.
        """
        ids: list[int] = []
        with self.engine.begin() as connection:
            if scores:
                connection.execute(self._upsert(SCORES, ["module_id", "ts"]), scores)
            if modules:
                connection.execute(
                    self._upsert(MODULES, ["module_id"], keep=("first_ts",)), modules
                )
            for alarm in opened:
                result = connection.execute(ALARMS.insert().values(**alarm))
                ids.append(int(result.inserted_primary_key[0]))
            for change in updated:
                values = {k: v for k, v in change.items() if k != "id"}
                connection.execute(
                    ALARMS.update().where(ALARMS.c.id == change["id"]).values(**values)
                )
        return ids

    def recover(self) -> tuple[int, dict[str, int]]:
        """After a restart: close the alarms left open; each module's newest stored second.

        Returns:
            How many alarms were closed (at their last alarm second), and the newest second
            per module (the service refuses older telemetry, as before the restart).
        """
        with self.engine.begin() as connection:
            closed = connection.execute(
                ALARMS.update()
                .where(ALARMS.c.closed_ts.is_(None))
                .values(closed_ts=ALARMS.c.last_ts, note="open when the service stopped")
            ).rowcount
            newest = dict(
                connection.execute(sa.select(MODULES.c.module_id, MODULES.c.last_ts)).all()
            )
        return int(closed), {str(k): int(v) for k, v in newest.items()}

    def prune(self, before_ts: int) -> int:
        """Delete scores older than ``before_ts``; returns how many."""
        with self.engine.begin() as connection:
            return connection.execute(SCORES.delete().where(SCORES.c.ts < before_ts)).rowcount

    def write_health(self, rows: Iterable[dict[str, Any]]) -> None:
        """Upsert per-cell SOH estimates."""
        rows = list(rows)
        if rows:
            with self.engine.begin() as connection:
                connection.execute(self._upsert(HEALTH, ["cell_id"]), rows)

    def review(self, alarm_id: int, kind: str, by: str | None, note: str | None) -> dict | None:
        """Record an operator's verdict on an alarm; None if there is no such alarm."""
        if kind not in REVIEWS:
            raise ValueError(f"review must be one of {REVIEWS}, got {kind!r}")
        now = time.time()
        with self.engine.begin() as connection:
            found = connection.execute(
                sa.select(ALARMS.c.id).where(ALARMS.c.id == alarm_id)
            ).first()
            if found is None:
                return None
            connection.execute(
                ALARMS.update()
                .where(ALARMS.c.id == alarm_id)
                .values(review=kind, reviewed_at=now, reviewed_by=by, note=note)
            )
            connection.execute(
                FEEDBACK.insert().values(alarm_id=alarm_id, kind=kind, at=now, by=by, note=note)
            )
        return self.alarm(alarm_id)

    # ---- reads (the API) --------------------------------------------------------------------
    def _rows(self, statement: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(statement)]

    def modules(self) -> list[dict[str, Any]]:
        """Latest state of every module, by rack and module."""
        return self._rows(sa.select(MODULES).order_by(MODULES.c.rack_id, MODULES.c.module_id))

    def module(self, module_id: str) -> dict[str, Any] | None:
        """Latest state of one module, or None."""
        rows = self._rows(sa.select(MODULES).where(MODULES.c.module_id == module_id))
        return rows[0] if rows else None

    def history(self, module_id: str, since_ts: int, limit: int) -> list[dict[str, Any]]:
        """A module's scores from ``since_ts`` on (oldest first, at most ``limit``)."""
        newest = (
            sa.select(SCORES)
            .where(SCORES.c.module_id == module_id, SCORES.c.ts >= since_ts)
            .order_by(SCORES.c.ts.desc())
            .limit(limit)
        )
        return sorted(self._rows(newest), key=lambda row: row["ts"])

    def alarms(
        self, state: str | None = None, limit: int = 200, module_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Alarms, newest first: ``state`` open (not closed), closed, or unreviewed."""
        statement = sa.select(ALARMS).order_by(ALARMS.c.opened_ts.desc()).limit(limit)
        if module_id is not None:
            statement = statement.where(ALARMS.c.module_id == module_id)
        if state == "open":
            statement = statement.where(ALARMS.c.closed_ts.is_(None))
        elif state == "closed":
            statement = statement.where(ALARMS.c.closed_ts.is_not(None))
        elif state == "unreviewed":
            statement = statement.where(ALARMS.c.review == "none")
        return self._rows(statement)

    def alarm(self, alarm_id: int) -> dict[str, Any] | None:
        """One alarm, or None."""
        rows = self._rows(sa.select(ALARMS).where(ALARMS.c.id == alarm_id))
        return rows[0] if rows else None

    def health(self) -> list[dict[str, Any]]:
        """Per-cell SOH estimates."""
        return self._rows(sa.select(HEALTH).order_by(HEALTH.c.cell_id))

    def recent_scores(self, since_ts: int, limit: int) -> list[dict[str, Any]]:
        """Scores of every module from ``since_ts`` on (for monitoring)."""
        return self._rows(
            sa.select(SCORES).where(SCORES.c.ts >= since_ts).order_by(SCORES.c.ts).limit(limit)
        )

    def hottest(
        self, since_ts: int, until_ts: int, limit: int, rack_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Each module's peak and mean hottest-sensor reading over a window, hottest first."""
        peak = sa.func.max(SCORES.c.temp_max_c)
        statement = (
            sa.select(
                SCORES.c.module_id,
                SCORES.c.rack_id,
                peak.label("peak_temp_c"),
                sa.func.avg(SCORES.c.temp_max_c).label("mean_temp_c"),
            )
            .where(SCORES.c.ts >= since_ts, SCORES.c.ts <= until_ts)
            .group_by(SCORES.c.module_id, SCORES.c.rack_id)
            .order_by(peak.desc().nulls_last(), SCORES.c.module_id)
            .limit(limit)
        )
        if rack_id is not None:
            statement = statement.where(SCORES.c.rack_id == rack_id)
        return self._rows(statement)

    def module_window(self, module_id: str, since_ts: int, until_ts: int) -> dict[str, Any]:
        """A module over a window: peak and mean temperature, peak probability, alarm seconds."""
        statement = sa.select(
            sa.func.max(SCORES.c.temp_max_c).label("peak_temp_c"),
            sa.func.avg(SCORES.c.temp_max_c).label("mean_temp_c"),
            sa.func.max(SCORES.c.probability).label("peak_probability"),
            sa.func.sum(sa.case((SCORES.c.alarm, 1), else_=0)).label("alarm_seconds"),
            sa.func.count().label("seconds"),
        ).where(SCORES.c.module_id == module_id, SCORES.c.ts >= since_ts, SCORES.c.ts <= until_ts)
        return self._rows(statement)[0]

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self.engine.connect() as connection:
            return {
                table.name: int(
                    connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                )
                for table in (SCORES, MODULES, ALARMS, FEEDBACK, HEALTH)
            }
