"""PostgreSQL clusters of Debian's server binaries, made by a test in a temporary folder on free ports.

Shared by the tests that need a server of their own (a standby to promote, a base backup to recover): the
suite's database is one server the tests share, which none of them may stop, archive or restore.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import pytest


def server_binaries() -> Path | None:
    """The newest installed major version's bin folder (initdb, pg_ctl, pg_basebackup), or None."""
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[4]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def runner_for(folder: Path) -> list[str]:
    """The command prefix that runs the servers as a non-root user; as root, ``folder`` is handed to postgres."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    try:
        import pwd

        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres user to run the test clusters as")
    if runuser is None:
        pytest.skip("running as root and runuser is missing: the test clusters cannot run as postgres")
    os.chown(folder, account.pw_uid, account.pw_gid)
    return [runuser, "-u", "postgres", "--"]


@dataclass
class Cluster:
    """One PostgreSQL cluster, run by a non-root user (initdb and postgres refuse root)."""

    binaries: Path
    folder: Path
    port: int
    runner: list[str]

    @property
    def data(self) -> Path:
        return self.folder / f"data-{self.port}"

    def run(self, tool: str, *arguments: str, timeout: float = 60) -> str:
        finished = subprocess.run([*self.runner, str(self.binaries / tool), *arguments], capture_output=True,
                                  text=True, timeout=timeout, check=False)
        if finished.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise AssertionError(f"{tool} {' '.join(arguments)} failed: {finished.stderr}{finished.stdout}\n{log}")
        return finished.stdout

    @property
    def log(self) -> Path:
        return self.folder / f"server-{self.port}.log"

    def configure(self, **settings: str) -> None:
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            for name, value in settings.items():
                conf.write(f"{name} = '{value}'\n")

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def sql(self, statement: str, database: str = "postgres") -> str:
        return self.run("psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                        "-d", database, "-c", statement).strip()
