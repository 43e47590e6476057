"""deploy/entrypoint.sh, the container image's one entrypoint, started here for every role it knows: each
process gets ready on its own port, `metrics` adds up the counters of all of them (a sub-folder per process
role and host), a real Prometheus scrapes it and answers about every process's database pool, and SIGTERM
stops each one with exit status 0."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opendsp.platform import Platform
from tests.deploy.processes import ENTRYPOINT, environment, free_port, running, wait_ready
from tests.web.test_metrics import prometheus_scraping, promql

pytestmark = pytest.mark.slow

ROLES = ("web", "worker", "mllp", "checkpointer", "metrics")


def entrypoint(role: str, *args: str) -> list[str]:
    return ["sh", str(ENTRYPOINT), role, *args]


def test_an_unknown_role_or_none_is_refused_with_the_usage(platform: Platform) -> None:
    for args in (["serve"], [], ["web; id"]):
        done = subprocess.run(["sh", str(ENTRYPOINT), *args], env=environment(platform), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 64 and "usage: entrypoint.sh web|worker|mllp|checkpointer|migrate|metrics" in \
            done.stderr


def test_every_role_of_the_entrypoint_starts_gets_ready_is_scraped_and_stops_on_sigterm(
    platform: Platform, tmp_path: Path
) -> None:
    shared = tmp_path / "metrics"
    ports = {role: free_port() for role in ROLES}
    mllp_port = free_port()
    env = environment(platform, OPENDSP_LISTEN_HOST="127.0.0.1", OPENDSP_METRICS_DIR=str(shared),
                      OPENDSP_WEB_WORKERS="2", OPENDSP_CHECKPOINT_EVERY_SECONDS="3600",
                      OPENDSP_DATABASE_POOL_SIZE="3", OPENDSP_DATABASE_MAX_OVERFLOW="2")
    migrated = subprocess.run(entrypoint("migrate"), env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0 and "database ready" in migrated.stderr, migrated.stderr

    with ExitStack() as stack:
        processes = {}
        for role in ROLES:
            role_env = {**env, "PORT": str(ports[role]), "OPENDSP_HEALTH_PORT": str(ports[role]),
                        "OPENDSP_METRICS_PORT": str(ports[role]), "OPENDSP_MLLP_PORT": str(mllp_port)}
            processes[role] = stack.enter_context(running(entrypoint(role), role_env))
        for role in ROLES:
            if role == "metrics":
                continue
            body = wait_ready(f"http://127.0.0.1:{ports[role]}/healthz/ready", processes[role])
            assert body["checks"] == {"database": "ok", "content_store": "ok", "master_keys": "ok"}, role
            assert body.get("process", "web") == role
        # The entrypoint `exec`s: the process signalled is the command itself, not a shell in front of it.
        for role, process in processes.items():
            assert b"opendsp" in Path(f"/proc/{process.pid}/cmdline").read_bytes(), role
        folders = {path.name.split("-", 1)[0] for path in shared.iterdir() if path.is_dir()}
        assert folders == {"web", "worker", "mllp", "checkpointer"}  # `metrics` writes its own in the volume

        with prometheus_scraping(f"127.0.0.1:{ports['metrics']}", tmp_path) as api:
            until = time.monotonic() + 60
            pools = promql(api, "count by (process) (opendsp_database_pool_size)", until=until)
            while {sample["metric"]["process"] for sample in pools} != set(ROLES) and time.monotonic() < until:
                time.sleep(0.5)  # the next scrape
                pools = promql(api, "count by (process) (opendsp_database_pool_size)", until=until)
            counted = {sample["metric"]["process"]: int(sample["value"][1]) for sample in pools}
            assert counted == {"web": 2, "worker": 1, "mllp": 1, "checkpointer": 1, "metrics": 1}, counted
            assert promql(api, 'opendsp_metrics_database_up == 1', until=until)
            sizes = promql(api, "opendsp_database_pool_size", until=until)
            assert {float(sample["value"][1]) for sample in sizes} == {3.0}  # OPENDSP_DATABASE_POOL_SIZE, each
            assert promql(api, "sum(opendsp_database_pool_checked_out) >= 0", until=until)
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=10) as answer:
            families = {family.name for family in text_string_to_metric_families(answer.read().decode())}
        assert {"opendsp_database_pool_checked_out", "opendsp_database_pool_overflow"} <= families

        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for role, process in processes.items():
            out, errors = process.communicate(timeout=90)
            assert process.returncode == 0, (role, errors)
    assert list(shared.rglob("gauge_liveall_*.db")) == []  # each process removed its live pool series
