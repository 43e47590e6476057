"""The container image built from deploy/Containerfile and run for real with podman: scripts/build-image.sh makes
its base images from Debian's mirror (this machine cannot pull docker.io's), then the image; its containers run as
user 10001, `migrate` then `web` and `worker` on SQLite in a volume, and on PostgreSQL, each gets ready over HTTP
and stops with exit status 0 on SIGTERM.

Opt-in (OPENDSP_TEST_IMAGE=1). On a machine of the test suite the first run makes the two bases and the image: 7 to
11 minutes (the mirror's speed), too long for every run of the suite on a new machine. Later runs reuse the
bases and podman's layers: about 75 seconds on two workers (a build of 20 to 30 s, then 20 s for each database).
Skipped, saying why, without root, podman, runc or debootstrap, or when podman cannot run a container here."""

from __future__ import annotations

import fcntl
import os
import resource
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.deploy.processes import free_port, wait_ready

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "build-image.sh"
IMAGE = "localhost/opendsp:test"
# Builds wait for each other (the test's two databases may run in two workers): the second reuses the first's.
BUILD_LOCK = Path("/var/tmp/opendsp-image-build.lock")


def engine_settings(folder: Path) -> Path:
    """A containers.conf for machines such as the test suite's: the processes cannot raise their own limits (so the
    containers' are lowered to what this process has, where podman would raise them), the cgroups are v1 with a v2
    hierarchy beside them (which runc accepts and crun does not), and the containers use the host's network (their
    ports on the loopback address only, given by the test)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
    settings = folder / "containers.conf"
    settings.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        'netns = "host"\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
    )
    return settings


def podman(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], env=env, capture_output=True, text=True, timeout=timeout)


def skip_unless_images_can_be_built(opt_in: str) -> None:
    """Skips, saying why, unless OPENDSP_TEST_IMAGE=1 asks for it (``opt_in`` says so) and this machine can make
    the bases and run podman as root."""
    if os.environ.get("OPENDSP_TEST_IMAGE") != "1":
        pytest.skip(opt_in)
    if os.geteuid() != 0:
        pytest.skip("making the base images needs root (debootstrap)")
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (Debian packages podman, runc, debootstrap)")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment in which podman builds and runs here; the test is skipped, saying why, where it cannot."""
    skip_unless_images_can_be_built("the image build is opt-in: set OPENDSP_TEST_IMAGE=1 (7 to 11 minutes the "
                                    "first time)")
    env = {**os.environ, "CONTAINERS_CONF": str(engine_settings(tmp_path_factory.mktemp("podman")))}
    with BUILD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bases = subprocess.run(["sh", str(BUILD), "--bases"], env=env, capture_output=True, text=True, timeout=1800)
    assert bases.returncode == 0, bases.stderr
    python_base = bases.stdout.split()[0]
    tried = podman(env, "run", "--rm", python_base, "python", "-c", "print('ran')")
    if tried.returncode != 0 or tried.stdout.strip() != "ran":
        pytest.skip(f"podman cannot run a container here: {tried.stderr.strip()}")
    return env


@pytest.fixture(scope="module")
def image(engine: dict[str, str]) -> str:
    with BUILD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = subprocess.run(["sh", str(BUILD), IMAGE], env=engine, capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    return IMAGE


@contextmanager
def container(engine: dict[str, str], image: str, role: str, volume: str, **env: str) -> Iterator[
    tuple[str, subprocess.Popen[str]]
]:
    """`podman run` of one role in the foreground: the process is the client, whose exit status is the
    container's. The container is removed at the end whatever happened."""
    name = f"opendsp-test-{role}-{uuid.uuid4().hex[:8]}"
    options = [option for key, value in env.items() for option in ("--env", f"{key}={value}")]
    process = subprocess.Popen(["podman", "run", "--name", name, "--volume", f"{volume}:/var/lib/opendsp",
                                *options, image, role], env=engine, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        yield name, process
    finally:
        podman(engine, "rm", "--force", "--time", "0", name)
        if process.poll() is None:
            process.kill()
        process.communicate()


def stop(engine: dict[str, str], name: str, process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM to the container's process (the role's command: the entrypoint `exec`s), and its exit status."""
    signalled = podman(engine, "kill", "--signal", "TERM", name)
    assert signalled.returncode == 0, signalled.stderr
    _, errors = process.communicate(timeout=60)
    return process.returncode, errors


def test_the_image_runs_as_user_10001_migrates_serves_works_and_stops_on_sigterm(
    engine: dict[str, str], image: str, database_url: str
) -> None:
    user = podman(engine, "run", "--rm", "--entrypoint", "id", image, "-u")
    assert user.returncode == 0 and user.stdout.strip() == "10001", user.stdout + user.stderr

    # SQLite: the image's default, a file in the volume (the fixture's file is the host's, unused here).
    # PostgreSQL: the test's own schema, reached on the host's network.
    kind = database_url.split(":", 1)[0]
    database = {} if kind == "sqlite" else {"OPENDSP_DATABASE_URL": database_url}
    volume = f"opendsp-test-{uuid.uuid4().hex[:8]}"
    assert podman(engine, "volume", "create", volume).returncode == 0
    try:
        options = [option for key, value in database.items() for option in ("--env", f"{key}={value}")]
        migrated = podman(engine, "run", "--rm", "--volume", f"{volume}:/var/lib/opendsp", *options, image,
                          "migrate")
        assert migrated.returncode == 0 and f"database ready ({kind}" in migrated.stderr, migrated.stderr

        web_port, worker_port = free_port(), free_port()
        with ExitStack() as stack:
            web_name, web = stack.enter_context(container(
                engine, image, "web", volume, OPENDSP_LISTEN_HOST="127.0.0.1", PORT=str(web_port), **database))
            worker_name, worker = stack.enter_context(container(
                engine, image, "worker", volume, OPENDSP_LISTEN_HOST="127.0.0.1",
                OPENDSP_HEALTH_PORT=str(worker_port), **database))
            body = wait_ready(f"http://127.0.0.1:{web_port}/healthz/ready", web, within=120)
            assert body["checks"] == {"database": "ok", "content_store": "ok", "master_keys": "ok"}
            body = wait_ready(f"http://127.0.0.1:{worker_port}/healthz/ready", worker, within=120)
            assert body["checks"] == {"database": "ok", "content_store": "ok", "master_keys": "ok"}
            assert body["process"] == "worker"

            # The container's first process is the role's command itself, and it is not root.
            for name, command in ((web_name, "serve"), (worker_name, "worker")):
                status = podman(engine, "exec", name, "cat", "/proc/1/status")
                uids = next(line for line in status.stdout.splitlines() if line.startswith("Uid:")).split()[1:]
                assert uids == ["10001"] * 4, (name, uids)
                arguments = podman(engine, "exec", name, "cat", "/proc/1/cmdline").stdout.split("\0")
                assert arguments[1:3] == ["/opt/opendsp/bin/opendsp", command], (name, arguments)

            for name, process in ((web_name, web), (worker_name, worker)):
                code, errors = stop(engine, name, process)
                assert code == 0, (name, errors[-4000:])
    finally:
        podman(engine, "volume", "rm", "--force", volume)
