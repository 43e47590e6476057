"""Starting OpenDSP's commands as real processes, and asking them how they are."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from opendsp.platform import Platform

ENTRYPOINT = Path(__file__).resolve().parents[2] / "deploy" / "entrypoint.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(platform: Platform, **extra: str) -> dict[str, str]:
    """The test platform's database and folder, this code first on the path, `opendsp` on PATH."""
    settings = platform.settings
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "OPENDSP_DATABASE_URL": settings.database_url,
        "OPENDSP_VAR_DIR": str(settings.var_dir),
        "OPENDSP_PASSWORD_HASH_PROFILE": settings.password_hash_profile,
        **extra,
    }


def probe(url: str) -> tuple[int, dict[str, object]]:
    """The status and JSON body of a health endpoint (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
    except OSError:
        return 0, {}


def wait_ready(url: str, process: subprocess.Popen[str], *, within: float = 90) -> dict[str, object]:
    """Ask until the process says it is ready; fail with its output if it dies or never gets ready."""
    deadline = time.monotonic() + within
    while True:
        status, body = probe(url)
        if status == 200:
            return body
        if process.poll() is not None:
            out, errors = process.communicate()
            raise AssertionError(f"the process ended ({process.returncode}) before it was ready:\n{out}\n{errors}")
        assert time.monotonic() < deadline, f"not ready within {within:g} s: {status} {body}"
        time.sleep(0.1)  # waiting for the process to start, not for an expiry


@contextmanager
def running(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """The command as a process of its own; killed at the end if the test did not stop it."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # its group only: uvicorn's workers with it
            process.communicate()


def opendsp(*args: str) -> list[str]:
    return [sys.executable, "-m", "opendsp.cli", *args]
