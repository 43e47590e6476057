"""deploy/compose.yaml brought up for real with podman-compose, every role in a container of the image built from
deploy/Containerfile, in production mode with every secret: `migrate` completes, `web` answers over its published
port, `worker`, `mllp` and `checkpointer` pass the composition's own health checks, the MLLP listener answers a
message over mutual TLS, Prometheus answers PromQL about the series it scraped from `metrics`; then every role
stops on SIGTERM with exit status 0 and `down` removes the containers, the volumes and the network.

What differs from production (docs/operations.md, "Deployment"): the third-party images are test stand-ins made by
scripts/build-stand-ins.sh from Debian's packages and PyPI (docker.io cannot be reached here); an override file
of the test publishes the ports on free ports of 127.0.0.1 and names secrets written in a temporary folder; and
the test waits for the `depends_on` conditions itself. Debian's podman 4.3 cannot start a container whose
required containers require others in turn (`generating dependency graph ... not found in input list`), runs no
health check by itself (that needs systemd's timers), and podman-compose ignores `service_healthy` before podman
4.6: so the services are brought up with `up -d --no-deps` in the order of the file's `depends_on`, each
condition waited for first (`service_healthy`: the service's own health check of the file, run by `podman
healthcheck run` until it passes; `service_completed_successfully`: exit status 0; `service_started`: running).

Opt-in like test_image.py (OPENDSP_TEST_IMAGE=1), whose image and bases it shares; the first run also builds the
three stand-ins (about 2 minutes); later runs take about 50 seconds. Skipped, saying why, without root, podman,
runc, debootstrap or podman-compose, or when podman cannot run a container here."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from joserfc.jwk import ECKey

from tests.deploy.processes import free_port, probe
from tests.deploy.test_image import BUILD, BUILD_LOCK, IMAGE, engine_settings, podman, skip_unless_images_can_be_built
from tests.stays.hl7_clients import adt, send_tls
from tests.stays.pki import make_pki
from tests.web.test_metrics import promql

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("compose_up")]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
STAND_INS = ROOT / "scripts" / "build-stand-ins.sh"
OPENDSP_ROLES = ("web", "worker", "mllp", "checkpointer", "metrics")
CONTAINER_USER = 10001


def compose_runner() -> list[str] | None:
    """podman-compose: the module in this interpreter, or the command on PATH."""
    if importlib.util.find_spec("podman_compose") is not None:
        return [sys.executable, "-m", "podman_compose"]
    found = shutil.which("podman-compose")
    return [found] if found else None


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment in which podman and podman-compose run here, the image and the stand-ins built; the test is
    skipped, saying why, where they cannot."""
    skip_unless_images_can_be_built("compose up is opt-in: set OPENDSP_TEST_IMAGE=1 (it builds the image and the "
                                    "stand-ins)")
    if compose_runner() is None:
        pytest.skip("podman-compose is not installed (pip install podman-compose: see .ci/run)")
    env = {**os.environ, "CONTAINERS_CONF": str(engine_settings(tmp_path_factory.mktemp("podman")))}
    with BUILD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = subprocess.run(["sh", str(BUILD), IMAGE], env=env, capture_output=True, text=True, timeout=1800)
        assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
        stand_ins = subprocess.run(["sh", str(STAND_INS)], env=env, capture_output=True, text=True, timeout=1800)
        assert stand_ins.returncode == 0, stand_ins.stderr[-4000:]
    tried = podman(env, "run", "--rm", "--entrypoint", "python", IMAGE, "-c", "print('ran')")
    if tried.returncode != 0 or tried.stdout.strip() != "ran":
        pytest.skip(f"podman cannot run a container here: {tried.stderr.strip()}")
    env["OPENDSP_TEST_STAND_INS"] = stand_ins.stdout
    return env


def host_opendsp(*args: str, **settings: str) -> None:
    """An `opendsp` command of this checkout, run on the host to make a secret as docs/operations.md says."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **settings}
    done = subprocess.run([sys.executable, "-m", "opendsp.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def write_secrets(folder: Path) -> tuple[dict[str, Path], object]:
    """The files of deploy/secrets/, made as docs/operations.md says, readable by the containers' user only."""
    folder.mkdir(mode=0o700)
    files = {name: folder / name for name in ("master-keys.json", "token-signing-key.json", "checkpoint-key.pem",
                                              "checkpoint-key.pem.pub", "mllp-certificate.pem", "mllp-key.pem",
                                              "mllp-client-ca.pem")}
    host_opendsp("keys", "init", OPENDSP_MASTER_KEY_SOURCE=f"file:{files['master-keys.json']}")
    signing_key = ECKey.generate_key("P-256", private=True, auto_kid=True)
    files["token-signing-key.json"].write_text(json.dumps(signing_key.as_dict(private=True)))
    host_opendsp("trace", "new-key", OPENDSP_CHECKPOINT_KEY_FILE=str(files["checkpoint-key.pem"]))
    pki = make_pki(folder.parent / "pki")
    shutil.copyfile(pki.server.certificate, files["mllp-certificate.pem"])
    shutil.copyfile(pki.server.key, files["mllp-key.pem"])
    shutil.copyfile(pki.hospitals_ca.certificate, files["mllp-client-ca.pem"])
    for path in files.values():
        assert path.exists(), path
        os.chown(path, CONTAINER_USER, CONTAINER_USER)
        path.chmod(0o400)
    return files, pki


def write_env_file(path: Path, stand_ins: str) -> None:
    """deploy/.env as an operator fills it from deploy/example.env, plus the stand-ins' and the image's tags."""
    path.write_text("\n".join([
        f"POSTGRES_PASSWORD={secrets.token_hex(16)}",
        f"S3_ACCESS_KEY_ID=opendsp{secrets.token_hex(4)}",
        f"S3_SECRET_ACCESS_KEY={secrets.token_hex(20)}",
        f"OPENDSP_SESSION_SECRET={secrets.token_hex(32)}",
        "OPENDSP_PUBLIC_BASE_URL=https://dsp.opendsp.test",
        "OPENDSP_TRUSTED_PROXIES=",
        "OPENDSP_SMTP_HOST=smtp.opendsp.test",
        "OPENDSP_SMTP_FROM=dsp@opendsp.test",
        "OPENDSP_WEB_WORKERS=2",
        f"OPENDSP_IMAGE={IMAGE}",
        stand_ins.strip(),
        "",
    ]))


def write_override(path: Path, files: dict[str, Path], ports: dict[str, int]) -> None:
    """The test's own override: the published ports on free ports of the loopback address (`!override` replaces
    the list, which would otherwise be added to), and the secrets from the temporary folder."""
    published = {"web": (ports["web"], 8000), "mllp": (ports["mllp"], 2575), "prometheus": (ports["prometheus"], 9090)}
    services = "\n".join(f"  {name}:\n    ports: !override [\"127.0.0.1:{host}:{inside}\"]"
                         for name, (host, inside) in published.items())
    declared = "\n".join(f"  {name}: {{file: {json.dumps(str(file))}}}" for name, file in files.items())
    path.write_text(f"services:\n{services}\nsecrets:\n{declared}\n")


class Composition:
    """`podman-compose` on deploy/compose.yaml and the test's override, as a project of its own."""

    def __init__(self, engine: dict[str, str], project: str, env_file: Path, override: Path) -> None:
        self.engine, self.project = engine, project
        self.batches: list[list[str]] = []  # the services in the order `up` started them
        self.command = [*(compose_runner() or []), "--project-name", project, "--env-file", str(env_file),
                        "-f", str(COMPOSE_FILE), "-f", str(override)]

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.command, *args], env=self.engine, capture_output=True, text=True,
                              timeout=timeout)

    def podman(self, *args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman", *args], env=self.engine, capture_output=True, text=True, timeout=timeout,
                              input=input)

    def containers(self) -> dict[str, str]:
        """Each service's container, by the labels podman-compose gives them."""
        listed = self.podman("ps", "--all", "--filter", f"label=io.podman.compose.project={self.project}",
                             "--format", "json")
        assert listed.returncode == 0, listed.stderr
        return {item["Labels"]["com.docker.compose.service"]: item["Names"][0]
                for item in json.loads(listed.stdout or "[]")}

    def state(self, service: str) -> dict:  # type: ignore[type-arg]
        inspected = self.podman("inspect", self.containers()[service], "--format", "json")
        assert inspected.returncode == 0, inspected.stderr
        return json.loads(inspected.stdout)[0]["State"]  # type: ignore[no-any-return]

    def logs(self, service: str) -> str:
        shown = self.podman("logs", self.containers()[service])
        return shown.stdout + shown.stderr

    def healthy(self, service: str, *, within: float) -> None:
        """The service's own health check of the composition, run until it passes (podman 4.3 schedules none
        without systemd): `podman healthcheck run` executes the `test` of compose.yaml inside the container."""
        deadline = time.monotonic() + within
        while True:
            checked = self.podman("healthcheck", "run", self.containers()[service])
            if checked.returncode == 0:
                assert self.state(service)["Health"]["Status"] == "healthy"
                return
            assert self.state(service)["Status"] == "running", (service, self.logs(service)[-4000:])
            assert time.monotonic() < deadline, (service, checked.stdout, checked.stderr, self.logs(service)[-4000:])
            time.sleep(1)  # the process is still starting

    def satisfy(self, service: str, condition: str) -> None:
        """Wait until a `depends_on` condition of the composition holds for the service."""
        if condition == "service_healthy":
            self.healthy(service, within=120)
        elif condition == "service_completed_successfully":
            waited = self.podman("wait", self.containers()[service], timeout=300)
            assert waited.returncode == 0 and waited.stdout.strip() == "0", (service, self.logs(service)[-4000:])
        else:
            assert condition == "service_started", condition
            assert self.state(service)["Status"] == "running", (service, self.logs(service)[-4000:])

    def up(self, file: Path) -> None:
        """`up -d` of every service of the file, in the order of its `depends_on`, each condition met first."""
        services = yaml.safe_load(file.read_text())["services"]  # the anchors and merge keys resolved
        dependencies = {}
        for name, service in services.items():
            declared = service.get("depends_on", {})
            dependencies[name] = dict.fromkeys(declared, "service_started") if isinstance(declared, list) else {
                dependency: settings.get("condition", "service_started") for dependency, settings in declared.items()}
        started: set[str] = set()
        met: set[tuple[str, str]] = set()
        while len(started) < len(services):
            batch = sorted(name for name in services if name not in started and set(dependencies[name]) <= started)
            assert batch, f"a cycle in depends_on: {dependencies}"
            for name in batch:
                for dependency, condition in dependencies[name].items():
                    if (dependency, condition) not in met:
                        self.satisfy(dependency, condition)
                        met.add((dependency, condition))
            done = self("up", "-d", "--no-deps", *batch, timeout=600)
            assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
            started.update(batch)
            self.batches.append(batch)

    def stop_in_reverse_order(self) -> None:
        for batch in reversed(self.batches):
            stopped = self("stop", *batch, timeout=300)
            assert stopped.returncode == 0, stopped.stderr[-4000:]

    def remove_everything(self) -> None:
        """`down --volumes`, then whatever of the project is still there: a failed test leaves nothing behind."""
        self("down", "--volumes", "--timeout", "10", timeout=300)
        label = f"label=io.podman.compose.project={self.project}"
        for kind in ("container", "volume", "network"):
            listed = self.podman(kind, "ls", *(["--all"] if kind == "container" else []), "--filter", label,
                                 "--format", "{{.Name}}" if kind != "container" else "{{.Names}}")
            for name in listed.stdout.split():
                self.podman(kind, "rm", "--force", name)

    def leftovers(self) -> list[str]:
        label = f"label=io.podman.compose.project={self.project}"
        found = []
        for kind in ("container", "volume", "network"):
            listed = self.podman(kind, "ls", *(["--all"] if kind == "container" else []), "--filter", label,
                                 "--format", "{{.Name}}" if kind != "container" else "{{.Names}}")
            found += [f"{kind} {name}" for name in listed.stdout.split()]
        return found


@pytest.fixture(scope="module")
def composition(engine: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[Composition, dict[str, int], Any]
]:
    """The composition brought up once for the tests of this module (one xdist group), removed at the end."""
    folder = tmp_path_factory.mktemp("compose")
    files, pki = write_secrets(folder / "secrets")
    env_file = folder / "compose.env"
    write_env_file(env_file, engine["OPENDSP_TEST_STAND_INS"])
    ports = {"web": free_port(), "mllp": free_port(), "prometheus": free_port()}
    override = folder / "compose.test.yaml"
    write_override(override, files, ports)
    composition = Composition(engine, f"opendsp-test-{uuid.uuid4().hex[:8]}", env_file, override)
    try:
        # PostgreSQL healthy by the file's own check, then `migrate` and `s3-bucket` completed, then the roles.
        composition.up(COMPOSE_FILE)
        yield composition, ports, pki
    finally:
        # Every service's log kept beside the test's files (pytest keeps the last runs' folders) for a failure.
        logs = folder / "logs"
        logs.mkdir()
        for service in composition.containers():
            (logs / f"{service}.log").write_text(composition.logs(service))
        composition.remove_everything()


def wait_http_ready(compose: Composition, service: str, url: str, *, within: float) -> dict[str, object]:
    deadline = time.monotonic() + within
    while True:
        status, body = probe(url)
        if status == 200:
            return body
        running = compose.state(service)["Status"] == "running"
        assert running and time.monotonic() < deadline, (url, status, body, compose.logs(service)[-4000:])
        time.sleep(1)  # the web workers are still starting


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=15) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def test_compose_up_migrates_then_every_role_gets_ready_in_its_container_and_prometheus_scrapes_them(
    composition: tuple[Composition, dict[str, int], Any],
) -> None:
    compose, ports, _ = composition
    containers = compose.containers()
    assert set(containers) == {"postgres", "s3", "s3-bucket", "migrate", *OPENDSP_ROLES, "prometheus"}

    migrate = compose.state("migrate")
    assert migrate["Status"] == "exited" and migrate["ExitCode"] == 0, compose.logs("migrate")[-4000:]
    assert "database ready (postgresql" in compose.logs("migrate")
    assert compose.state("s3-bucket")["ExitCode"] == 0, compose.logs("s3-bucket")

    # web: ready over the published port, every check ok (PostgreSQL, the S3 store, the master keys of the secret).
    web = f"http://127.0.0.1:{ports['web']}"
    body = wait_http_ready(compose, "web", f"{web}/healthz/ready", within=120)
    assert body["checks"] == {"database": "ok", "content_store": "ok", "master_keys": "ok"}, body
    status, kind, capability = get(f"{web}/fhir/metadata")
    assert status == 200 and "fhir+json" in kind, (status, kind, capability[:500])
    assert json.loads(capability)["resourceType"] == "CapabilityStatement"
    # A holder's login page, with the portals' stylesheet that the image's build compiled (npm, Sass).
    status, kind, page = get(f"{web}/login")
    assert status == 200 and kind.startswith("text/html") and b"<form" in page, (status, kind, page[:500])
    stylesheets = re.findall(rb'<link[^>]+href="(/static/[^"]+\.css)"', page)
    assert stylesheets, page[:2000]
    for href in stylesheets:
        status, kind, css = get(f"{web}{href.decode()}")
        assert status == 200 and kind.startswith("text/css") and len(css) > 1000, (href, status, kind)

    # worker, mllp, checkpointer: the composition's health checks, inside their containers.
    for service in ("web", "worker", "mllp", "checkpointer"):
        compose.healthy(service, within=120)
    # Every OpenDSP container runs the role's command as user 10001 (the entrypoint `exec`s).
    for service in OPENDSP_ROLES:
        status_file = compose.podman("exec", containers[service], "cat", "/proc/1/status").stdout
        uids = next(line for line in status_file.splitlines() if line.startswith("Uid:")).split()[1:]
        assert uids == [str(CONTAINER_USER)] * 4, (service, uids)
    # Prometheus (its published port) scraped `metrics`, which adds up every container's counters.
    api = f"http://127.0.0.1:{ports['prometheus']}"
    until = time.monotonic() + 90  # the first scrape comes within scrape_interval (15 s) of the start
    assert promql(api, 'up{job="opendsp"} == 1', until=until)
    latency = promql(api, 'opendsp_http_request_duration_seconds_count{route="/healthz/ready"}', until=until)
    assert latency and float(latency[0]["value"][1]) >= 1, latency
    pools = promql(api, "count by (process) (opendsp_database_pool_size)", until=until)
    while {sample["metric"]["process"] for sample in pools} != set(OPENDSP_ROLES) and time.monotonic() < until:
        time.sleep(1)  # the next scrape
        pools = promql(api, "count by (process) (opendsp_database_pool_size)", until=until)
    assert {sample["metric"]["process"] for sample in pools} == set(OPENDSP_ROLES), pools


# The image's Python is Debian bookworm's 3.11.2, which ignored the listener's pause as a connection opens
# (CPython gh-103607): every handshake timed out here until the listener paused again before its handshake.
def test_the_mllp_listener_in_its_container_acknowledges_messages_over_mutual_tls(
    composition: tuple[Composition, dict[str, int], Any],
) -> None:
    """A certificate of the hospitals' CA bound to no sender is acknowledged with the neutral refusal (the
    handshake, the frame and the listener's lookup all went through): from inside the container, then over the
    published port, on a new connection each time."""
    compose, ports, pki = composition
    compose.healthy("mllp", within=120)  # listening (when this test runs alone)
    client = {"certificate": pki.unbound.certificate.read_text(), "key": pki.unbound.key.read_text(),
              "ca": pki.hospitals_ca.certificate.read_text()}
    inside = compose.podman("exec", "-i", compose.containers()["mllp"], "python", "-c", IN_CONTAINER_MLLP_CLIENT,
                            input=json.dumps(client))
    assert inside.returncode == 0 and "MSA|AR|INSIDE|message refused" in inside.stdout, inside.stderr[-2000:]
    for attempt in range(5):
        ack = send_tls(ports["mllp"], adt("A01", "1234567890123", control=f"COMPOSE{attempt}"), pki=pki,
                       client=pki.unbound)
        assert str(ack.segment("MSA")) == f"MSA|AR|COMPOSE{attempt}|message refused"


# A framed ADT message over TLS to the listener on its own port, with the client certificate given on stdin.
IN_CONTAINER_MLLP_CLIENT = """
import json, socket, ssl, sys, tempfile
given = json.load(sys.stdin)
with tempfile.TemporaryDirectory() as folder:
    for name, text in given.items():
        open(f"{folder}/{name}.pem", "w").write(text)
    context = ssl.create_default_context(cafile=f"{folder}/ca.pem")
    context.load_cert_chain(f"{folder}/certificate.pem", f"{folder}/key.pem")
message = "MSH|^~\\\\&|LAB|LAB|OPENDSP|DSP|20260101100000||ADT^A01|INSIDE|P|2.5\\rEVN|A01|20260101100000"
with context.wrap_socket(socket.create_connection(("127.0.0.1", 2575), timeout=15), server_hostname="localhost") as tls:
    tls.sendall(b"\\x0b" + message.encode() + b"\\x1c\\r")
    answer = b""
    while not answer.endswith(b"\\x1c\\r"):
        chunk = tls.recv(4096)
        if not chunk:
            break
        answer += chunk
print(answer.decode().replace("\\r", "\\n"))
"""


def test_compose_stop_ends_every_role_with_status_0_and_down_removes_everything(
    composition: tuple[Composition, dict[str, int], Any],
) -> None:
    compose, _, _ = composition
    # SIGTERM to every container, each role ends with exit status 0 within its grace; then `down`. In the reverse
    # order of the start, as Docker Compose does: podman-compose's `stop` stops every service at once, and a role
    # that loses PostgreSQL while it stops ends with an error.
    compose.stop_in_reverse_order()
    for service in OPENDSP_ROLES:
        state = compose.state(service)
        assert state["Status"] == "exited" and state["ExitCode"] == 0, f"{service}:\n{compose.logs(service)[-6000:]}"
    removed = compose("down", "--volumes", timeout=300)
    assert removed.returncode == 0, removed.stderr[-4000:]
    assert compose.leftovers() == []
