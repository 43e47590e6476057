"""The Prometheus metrics: counted where things happen, labelled without ids, added up across processes,
and scraped by a real Prometheus server (Debian's ``prometheus``) that answers PromQL about them."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from opendsp.clock import FrozenClock
from opendsp.metrics import DECISIONS, metrics_registry, serve_metrics
from opendsp.platform import Platform
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.live import serve
from tests.web.professional import professional_with_account, record_with_code
from tests.web.test_access_log import csrf_of, live_client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _denials() -> float:
    return sum(sample.value for metric in DECISIONS.collect() for sample in metric.samples
               if sample.name.endswith("_total") and sample.labels["effect"] == "deny")


def _professional_visits_a_record_not_theirs(platform: Platform, clock: FrozenClock, url: str) -> tuple[str, str]:
    """Over HTTP: find a patient by national number, open the record (refused: not in its circle)."""
    pro = professional_with_account(platform, clock)
    record, _code = record_with_code(platform)
    with platform.transaction() as session:
        national_number = session.merge(record).holder.national_number
    with live_client(url, pro.browser) as http:
        form = http.get("/pro/find")
        http.post("/pro/find", data={"national_number": national_number, "csrf_token": csrf_of(form.text)})
        http.get(f"/pro/patients/{record.id}")
    return str(record.id), national_number


def test_latency_is_labelled_by_route_template_never_by_id_or_national_number(platform: Platform,
                                                                               clock: FrozenClock) -> None:
    denials = _denials()
    with serve(platform) as (url, served):
        record_id, national_number = _professional_visits_a_record_not_theirs(served, clock, url)
    text = generate_latest(metrics_registry(platform)).decode()
    assert 'route="/pro/patients/{record_id}"' in text
    assert 'route="/pro/find"' in text
    assert record_id not in text and national_number not in text
    assert _denials() > denials  # the gate counted its refusal
    assert 'opendsp_http_request_duration_seconds_count{method="POST",route="/pro/find",status="200"}' in text
    assert 'opendsp_outbox_messages{state="pending"}' in text and "opendsp_metrics_database_up 1.0" in text


COUNT_IN_A_PROCESS = """
from opendsp.metrics import count_acknowledgement, count_decision
count_decision("consult_document", False, "not_in_circle")
count_acknowledgement("MSH|^~\\\\&|OPENDSP\\rMSA|AE|42")
"""


def test_opendsp_metrics_adds_up_several_processes_on_its_own_port(platform: Platform, tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    settings = platform.settings
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONPATH": os.pathsep.join(sys.path),
           "OPENDSP_DATABASE_URL": settings.database_url, "OPENDSP_VAR_DIR": str(settings.var_dir)}
    for _ in range(2):  # two workers, each counting in its own files
        subprocess.run([sys.executable, "-c", COUNT_IN_A_PROCESS], env=env, check=True, timeout=60)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "opendsp.cli", "metrics", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                    text = answer.read().decode()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "opendsp metrics did not start"
                time.sleep(0.1)  # waiting for the process to listen
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert ('opendsp_policy_decisions_total{action="consult_document",effect="deny",reason="not_in_circle"} 2.0'
            in text)
    assert 'opendsp_mllp_messages_total{code="AE"} 2.0' in text
    assert "opendsp_metrics_database_up 1.0" in text


@contextmanager
def prometheus_scraping(target: str, folder: Path) -> Iterator[str]:
    """Debian's Prometheus, scraping ``target`` every second; yields its HTTP API's base URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus is not installed (apt-get install prometheus; .ci/run does it as root)")
    config = folder / "prometheus.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "opendsp", "static_configs": [{"targets": [target]}]}],
    }))
    port = _free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(folder / "prometheus.log").open("wb"))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def promql(api: str, query: str, *, until: float) -> list[dict]:  # type: ignore[type-arg]
    """The query's result vector, asked again every half second until it is not empty (or ``until``)."""
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                result = json.load(answer)["data"]["result"]
        except OSError:
            result = []  # Prometheus still starting
        if result or time.monotonic() > until:
            return result  # type: ignore[no-any-return]
        time.sleep(0.5)  # waiting for the next scrape


def test_a_real_prometheus_scrapes_the_metrics_port_and_answers_promql(platform: Platform, clock: FrozenClock,
                                                                       tmp_path: Path) -> None:
    with serve(platform) as (url, served):
        metrics_port = _free_port()
        server, thread = serve_metrics(served, "127.0.0.1", metrics_port)
        try:
            with prometheus_scraping(f"127.0.0.1:{metrics_port}", tmp_path) as api:
                record_id, national_number = _professional_visits_a_record_not_theirs(served, clock, url)
                expected = _denials()
                until = time.monotonic() + 30
                denied = promql(api, f'sum(opendsp_policy_decisions_total{{effect="deny"}}) >= {expected}', until=until)
                assert denied and float(denied[0]["value"][1]) >= expected >= 1, (tmp_path / "prometheus.log")
                latency = promql(api, 'opendsp_http_request_duration_seconds_count{route="/pro/patients/{record_id}"}'
                                 " > 0", until=until)
                assert latency
                with urllib.request.urlopen(f"{api}/api/v1/label/route/values", timeout=5) as answer:
                    routes = json.load(answer)["data"]
                assert "/pro/find" in routes
                assert not [route for route in routes if record_id in route or national_number in route]
                up = promql(api, 'up{job="opendsp"} == 1', until=until)
                assert up
        finally:
            server.shutdown()
            thread.join(timeout=10)


def _figures(platform: Platform) -> dict[str, float]:
    """The database figures as the metrics port serves them: name{labels} -> value."""
    from opendsp.metrics import DatabaseFigures

    return {f"{sample.name}{sample.labels.get('state', '')}": sample.value
            for metric in DatabaseFigures(platform).collect() for sample in metric.samples}


def test_outbox_backlog_and_checkpoint_age_are_read_from_the_database(platform: Platform, clock: FrozenClock) -> None:
    from datetime import timedelta

    from opendsp.accounts.services import account_of_person
    from opendsp.notifications.services import notify_account
    from opendsp.trace.checkpointer import checkpoint_log, signing_key
    from opendsp.trace.checkpoints import write_checkpoint
    from tests.notifications.helpers import person_with_account

    before = _figures(platform)
    assert before["opendsp_outbox_oldest_message_age_seconds"] == 0
    assert "opendsp_trace_checkpoint_age_seconds" not in before  # no checkpoint yet
    with platform.transaction() as session:
        person = person_with_account(session, platform, email="anne@example.lu")
        account = account_of_person(session=session, platform=platform, person=person)
        assert notify_account(session, platform, account_id=account.id, kind="logins_held_back",
                              once_per=timedelta(hours=1))
        signer = signing_key(platform.settings, platform.randomness, clock, say=lambda _line: None)
        write_checkpoint(session=session, log=checkpoint_log(platform.settings, clock), signer=signer, clock=clock)
    clock.advance(timedelta(minutes=10))
    after = _figures(platform)
    assert after["opendsp_outbox_messagespending"] == before["opendsp_outbox_messagespending"] + 1
    assert after["opendsp_outbox_oldest_message_age_seconds"] == 600
    assert after["opendsp_trace_checkpoint_age_seconds"] == 600
    assert after["opendsp_metrics_database_up"] == 1


def test_a_caller_cannot_add_label_values_with_made_up_methods_or_paths(platform: Platform) -> None:
    import httpx

    with serve(platform) as (url, _served), httpx.Client(base_url=url, timeout=30) as http:
        for n in range(3):
            http.request(f"BREW{n}", f"/made-up/{n}-1234567890123")
            http.get(f"/pro/patients/{n}-not-a-uuid")
    text = generate_latest(metrics_registry(platform)).decode()
    assert "BREW" not in text and "made-up" not in text and "not-a-uuid" not in text
    assert 'method="other",route="(unmatched)"' in text


def test_trace_appends_are_counted_by_outcome_a_rolled_back_act_included(platform: Platform) -> None:
    from prometheus_client import REGISTRY

    from tests.factories import deposit_pdf, make_record

    def permitted() -> float:
        return REGISTRY.get_sample_value("opendsp_trace_appends_total", {"outcome": "permitted"}) or 0

    with platform.transaction() as session:
        record = make_record(session, platform)
    before = permitted()
    with platform.transaction() as session:
        deposit_pdf(session, platform, record)
    kept = permitted()
    assert kept > before

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), platform.transaction() as session:
        deposit_pdf(session, platform, record)
        raise Abandoned  # the deposit and its entry roll back
    assert permitted() - kept == kept - before  # written, then rolled back: counted all the same


def test_jobs_are_counted_by_kind_and_state_from_the_database(platform: Platform) -> None:
    from opendsp.metrics import DatabaseFigures
    from tests.factories import deposit_pdf, make_record, run_jobs

    def jobs() -> dict[tuple[str, str], float]:
        return {(sample.labels["kind"], sample.labels["state"]): sample.value
                for metric in DatabaseFigures(platform).collect() if metric.name == "opendsp_jobs"
                for sample in metric.samples}

    run_jobs(platform)
    assert jobs().get(("index_document", "pending"), 0) == 0
    with platform.transaction() as session:
        deposit_pdf(session, platform, make_record(session, platform))
    assert jobs()[("index_document", "pending")] == 1
    run_jobs(platform)
    assert jobs().get(("index_document", "pending"), 0) == 0


def test_database_up_is_0_when_the_database_refuses_connections(platform: Platform) -> None:
    from sqlalchemy import create_engine

    from opendsp.metrics import DatabaseFigures

    # A server that does not listen: port 9 (discard) on localhost refuses the connection at once.
    dead = create_engine("postgresql+psycopg://opendsp@127.0.0.1:9/nowhere?connect_timeout=2")
    unreachable = Platform(settings=platform.settings, clock=platform.clock, randomness=platform.randomness,
                           engine=dead, blob_store=platform.blob_store)
    figures = {sample.name: sample.value for metric in DatabaseFigures(unreachable).collect()
               for sample in metric.samples}
    assert figures["opendsp_metrics_database_up"] == 0
    assert _figures(platform)["opendsp_metrics_database_up"] == 1
