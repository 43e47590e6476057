"""deploy/compose.yaml and deploy/Containerfile read as data: every OpenDSP service runs the one entrypoint with a
role it knows, as a user that is not root, on the ports docs/operations.md names; the third-party images default to
the official ones. (What the containers run is tested in test_entrypoint.py; the image is built and run in
test_image.py; `compose up` is run in test_compose_up.py, with stand-ins for the third-party images.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENTRYPOINT_IN_IMAGE = "/usr/local/bin/opendsp-entrypoint"


@pytest.fixture(scope="module")
def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def opendsp_services(compose: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    image = compose["x-opendsp"]["image"]
    return {name: service for name, service in compose["services"].items() if service.get("image") == image}


def entrypoint_roles() -> set[str]:
    """The roles as the script itself lists them when called without one."""
    done = subprocess.run(["sh", str(DEPLOY / "entrypoint.sh")], capture_output=True, text=True, timeout=30)
    usage = re.search(r"usage: entrypoint.sh (\S+)", done.stderr)
    assert done.returncode == 64 and usage, done.stderr
    return set(usage.group(1).split("|"))


def containerfile() -> str:
    return (DEPLOY / "Containerfile").read_text()


def test_every_opendsp_service_runs_the_entrypoint_with_a_role_it_knows(opendsp_services: dict) -> None:  # type: ignore[type-arg]
    roles = entrypoint_roles()
    assert roles == {"web", "worker", "mllp", "checkpointer", "migrate", "metrics"}
    used = set()
    for name, service in opendsp_services.items():
        assert service["entrypoint"] == [ENTRYPOINT_IN_IMAGE], name
        assert len(service["command"]) == 1 and service["command"][0] in roles, name
        used.add(service["command"][0])
    assert used == roles  # and every role has its service
    assert f"COPY deploy/entrypoint.sh {ENTRYPOINT_IN_IMAGE}" in containerfile()
    assert f'ENTRYPOINT ["{ENTRYPOINT_IN_IMAGE}"]' in containerfile()
    assert (DEPLOY / "entrypoint.sh").stat().st_mode & 0o111  # executable, as COPY keeps it


def test_the_image_and_its_services_run_as_a_user_that_is_not_root(opendsp_services: dict) -> None:  # type: ignore[type-arg]
    users = re.findall(r"^USER (\S+)$", containerfile(), flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    for name, service in opendsp_services.items():
        assert service["user"].split(":")[0] not in {"0", "root"}, name
        assert service["user"] == users[-1], name


def test_the_image_installs_from_the_committed_lock_files_only() -> None:
    text = containerfile()
    assert "pip install --require-hashes --no-deps -r /build/requirements.lock" in text
    assert "pip install --no-deps /build" in text
    assert "npm ci --ignore-scripts" in text and "COPY package.json package-lock.json" in text
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path


def test_the_base_images_are_build_arguments_whose_defaults_are_the_official_images() -> None:
    """scripts/build-image.sh passes bases made from Debian's mirror (tests/deploy/test_image.py); without those
    arguments the image is built from docker.io's, as in production."""
    text = containerfile()
    defaults = dict(re.findall(r"^ARG (\w+_IMAGE)=(\S+)$", text, flags=re.MULTILINE))
    assert defaults == {"NODE_IMAGE": "docker.io/library/node:22-bookworm-slim",
                        "PYTHON_IMAGE": "docker.io/library/python:3.11-slim-bookworm"}
    first_from = text.index("\nFROM ")
    assert all(text.index(f"ARG {name}=") < first_from for name in defaults)  # an ARG after FROM is the stage's
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert bases == ["${NODE_IMAGE}", "${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    script = (ROOT / "scripts" / "build-image.sh").read_text()
    assert "--build-arg PYTHON_IMAGE=" in script and "--build-arg NODE_IMAGE=" in script


def default_image(reference: str) -> str:
    """The image a service runs when its variable is not set: `${OPENDSP_X_IMAGE:-default}` gives the default."""
    overridable = re.fullmatch(r"\$\{OPENDSP_[A-Z0-9]+_IMAGE:-([^}]+)\}", reference)
    assert overridable, f"{reference}: not an overridable image with a default"
    return overridable.group(1)


def test_the_third_party_images_are_variables_whose_defaults_are_the_official_images(compose: dict) -> None:  # type: ignore[type-arg]
    """scripts/build-stand-ins.sh points the variables at test stand-ins (tests/deploy/test_compose_up.py); unset,
    the composition runs docker.io's images, as in production."""
    services = compose["services"]
    images = {name: default_image(services[name]["image"]) for name in ("postgres", "s3", "s3-bucket", "prometheus")}
    assert images == {"postgres": "docker.io/library/postgres:16-bookworm", "s3": "docker.io/motoserver/moto:5.2.5",
                      "s3-bucket": "docker.io/motoserver/moto:5.2.5",
                      "prometheus": "docker.io/prom/prometheus:v2.53.0"}
    assert services["s3"]["image"] == services["s3-bucket"]["image"]  # one variable for both


def test_the_s3_stand_in_is_the_server_the_tests_start(compose: dict) -> None:  # type: ignore[type-arg]
    locked = re.search(r"^moto==(\S+)", (ROOT / "requirements-dev.lock").read_text(), flags=re.MULTILINE)
    assert locked and default_image(compose["services"]["s3"]["image"]).endswith(f"/moto:{locked.group(1)}")
    assert compose["x-opendsp-environment"]["OPENDSP_S3_ENDPOINT_URL"] == "http://s3:5000"


def test_only_the_checkpointer_holds_the_checkpoints_private_key(opendsp_services: dict) -> None:  # type: ignore[type-arg]
    holders = {name for name, service in opendsp_services.items() if "checkpoint-key.pem" in service["secrets"]}
    assert holders == {"checkpointer"}


def test_only_web_holds_the_access_tokens_signing_key(compose: dict, opendsp_services: dict) -> None:  # type: ignore[type-arg]
    """Production refuses to start `web` without it (read beside the master keyring: /run/secrets/); no other role
    issues tokens."""
    holders = {name for name, service in opendsp_services.items() if "token-signing-key.json" in service["secrets"]}
    assert holders == {"web"}
    assert "master-keys.json" in opendsp_services["web"]["secrets"]
    assert compose["x-opendsp-environment"]["OPENDSP_MASTER_KEY_SOURCE"] == "file:/run/secrets/master-keys.json"


def _ports(service: dict) -> set[str]:  # type: ignore[type-arg]
    """The ports a service listens on inside its container: published ones, and its health check's."""
    listening = {str(port).rsplit(":", 1)[-1] for port in service.get("ports", [])}
    check = " ".join(service.get("healthcheck", {}).get("test", []))
    return listening | set(re.findall(r"127\.0\.0\.1:(\d+)/healthz", check))


def test_the_ports_are_those_of_the_settings_and_of_the_docs(compose: dict, opendsp_services: dict) -> None:  # type: ignore[type-arg]
    docs = (ROOT / "docs" / "operations.md").read_text()
    table = {row.split("|")[3].strip(" `"): row for row in docs.splitlines()
             if row.startswith("| ") and row.count("|") >= 7 and "`opendsp " in row}
    for name, service in opendsp_services.items():
        role = service["command"][0]
        environment = service["environment"]
        expected = {"web": {environment.get("PORT")}, "mllp": {environment.get("OPENDSP_MLLP_PORT"),
                    environment["OPENDSP_HEALTH_PORT"]}, "worker": {environment["OPENDSP_HEALTH_PORT"]},
                    "checkpointer": {environment["OPENDSP_HEALTH_PORT"]}}.get(role, set())
        assert _ports(service) == expected, name
        assert role in table, f"no row for {role} in the processes table of docs/operations.md"
        for port in expected | ({environment.get("OPENDSP_METRICS_PORT")} if role == "metrics" else set()):
            assert port in table[role], (role, port)
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == [
        f"metrics:{opendsp_services['metrics']['environment']['OPENDSP_METRICS_PORT']}"]
    assert "9090" in docs and compose["services"]["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]


def test_the_databases_max_connections_holds_every_pool_of_the_capacity_plan_at_its_fullest(
        compose: dict) -> None:  # type: ignore[type-arg]
    from opendsp.settings import Settings

    settings = Settings()
    per_process = settings.database_pool_size + settings.database_max_overflow
    assert per_process == 15  # docs/operations.md, "Capacity plan": 5 + 10
    # Two web machines of 4 workers, then the worker, the MLLP listener, the checkpointer and the metrics server.
    processes = 2 * 4 + 4
    command = compose["services"]["postgres"]["command"]
    limit = int(next(arg.split("=")[1] for arg in command if arg.startswith("max_connections=")))
    assert processes * per_process == 180 <= limit == 200
