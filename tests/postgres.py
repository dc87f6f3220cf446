"""A throw-away PostgreSQL server, so the registry and the service's store meet a real one.

:class:`Server` runs Debian's ``initdb`` and ``pg_ctl`` (PATH, or ``/usr/lib/postgresql/*/bin``)
into a temporary directory, listening on a Unix socket only (no TCP port to collide with), as the
``postgres`` user when the tests run as root (PostgreSQL refuses to run as root). Each test gets
its own database (:meth:`Server.database`); a template database, made once, is copied in a few
milliseconds. Without the binaries the tests that need it are skipped, and ``.ci/run`` installs
``postgresql`` where it is missing, so CI runs them.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

USER = "postgres"


def binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``, or None if PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


class Server:
    """One PostgreSQL cluster in a temporary directory; :meth:`stop` removes it."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="batteryops-pg-"))
        self.socket_dir = self.root / "socket"
        self.data_dir = self.root / "data"
        self.socket_dir.mkdir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, USER)
            shutil.chown(self.socket_dir, USER)
        self._run("initdb", "-D", str(self.data_dir), "-U", USER, "-A", "trust", "-E", "UTF8")
        options = f"-c listen_addresses='' -k {self.socket_dir} -c fsync=off"
        log = self.root / "server.log"
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(log), "-w", "start")

    def _run(self, program: str, *args: str) -> str:
        command = [str(self.bin_dir / program), *args]
        if self.as_root:
            command = ["runuser", "-u", USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with ``psql`` against ``database``."""
        return self._run(
            "psql", "-h", str(self.socket_dir), "-U", USER, "-d", database, "-qAt", "-c", statement
        )

    def url(self, database: str, driver: str = "psycopg") -> str:
        """The SQLAlchemy URL of ``database`` over the Unix socket."""
        return f"postgresql+{driver}://{USER}@/{database}?host={self.socket_dir}"

    def database(self, template: str | None = None) -> str:
        """A new, empty database (or a copy of ``template``); returns its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        copy = f" TEMPLATE {template}" if template else ""
        self.sql(f"CREATE DATABASE {name}{copy}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
