"""Each long-running command as a real process: ready when its database, content store and keys answer, and on
SIGTERM it refuses new work, finishes the work in hand, and exits 0, losing nothing.

(`opendsp worker` and `opendsp trace checkpointer` under SIGTERM are in tests/notifications/test_worker_process.py
and tests/trace/test_checkpointer_process.py, which probe their health ports too.)
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select, text

from opendsp.platform import Platform
from opendsp.stays.models import ReceivedMessage, Stay
from tests.deploy.processes import environment, free_port, opendsp, probe, running, wait_ready
from tests.stays.conftest import hospital, pki  # noqa: F401 - the fixtures: two hospitals, a patient
from tests.stays.hl7_clients import adt

pytestmark = pytest.mark.slow

START, END = b"\x0b", b"\x1c\r"


def pool_checked_out(folder: Path, role: str, pid: int) -> float:
    """What the process's pool gauge says, read from its multi-process files as `opendsp metrics` reads them."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    return registry.get_sample_value("opendsp_database_pool_checked_out", {"process": role, "pid": str(pid)}) or 0


def read_ack(sock: socket.socket) -> bytes:
    """Everything up to the end of the first MLLP block, or what came before the connection closed."""
    received = b""
    while END not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


class HeldWrites:
    """The database refuses writes to stays for a while: the listener's transaction waits, with a message in hand."""

    def __init__(self, platform: Platform) -> None:
        assert platform.engine is not None
        self.connection = platform.engine.connect()
        self.transaction = self.connection.begin()  # on SQLite: BEGIN IMMEDIATE, the database's write lock
        if platform.engine.dialect.name == "postgresql":
            self.connection.execute(text("LOCK TABLE stays IN EXCLUSIVE MODE"))  # reads go on, writes wait
        else:
            self.connection.execute(text("SELECT 1"))

    def release(self) -> None:
        self.transaction.rollback()
        self.connection.close()


def test_the_mllp_listener_answers_the_message_in_hand_after_sigterm_and_takes_no_new_one(
    platform: Platform, hospital, tmp_path: Path  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port, health_port = free_port(), free_port()
    env = environment(platform, PROMETHEUS_MULTIPROC_DIR=str(folder))
    ready = f"http://127.0.0.1:{health_port}/healthz/ready"
    with running(opendsp("mllp", "--port", str(port), "--health-port", str(health_port)), env) as listener:
        body = wait_ready(ready, listener)
        assert body["checks"] == {"database": "ok", "content_store": "ok", "master_keys": "ok"}
        assert probe(f"http://127.0.0.1:{health_port}/healthz/live")[0] == 200
        held = HeldWrites(platform)
        try:
            in_hand = socket.create_connection(("127.0.0.1", port), timeout=60)
            half_sent = socket.create_connection(("127.0.0.1", port), timeout=60)
            acks: dict[str, bytes] = {}
            in_hand.sendall(START + adt("A01", hospital["number"], control="INHAND1").encode() + END)
            reader = threading.Thread(target=lambda: acks.update(in_hand=read_ack(in_hand)))
            reader.start()
            half = adt("A01", hospital["number"], visit="V200", control="HALF1").encode()
            half_sent.sendall(START + half[: len(half) // 2])  # the rest never comes before the stop
            deadline = time.monotonic() + 30
            while pool_checked_out(folder, "mllp", listener.pid) < 1:  # its transaction waits for the lock
                assert time.monotonic() < deadline and listener.poll() is None, "the message never reached the feed"
                time.sleep(0.05)

            listener.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30
            while probe(ready)[1].get("status") != "stopping":
                assert time.monotonic() < deadline, "the health port never said the listener stops"
                time.sleep(0.05)
            assert probe(ready)[0] == 503
            while True:  # new connections are refused once the listening socket is closed
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=5).close()
                except ConnectionRefusedError:
                    break
                assert time.monotonic() < deadline, "the listener still accepts connections"
                time.sleep(0.05)
            assert read_ack(half_sent) == b""  # closed, unacknowledged: its sender sends it again later
            half_sent.close()
        finally:
            held.release()
        reader.join(timeout=60)
        in_hand.close()
        out, errors = listener.communicate(timeout=60)
    assert listener.returncode == 0, errors
    assert list(folder.glob("gauge_liveall_*.db")) == []
    assert b"MSA|AA|INHAND1" in acks["in_hand"]
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Stay).where(Stay.record_id == hospital["record"].id)) == 1
        controls = set(session.scalars(select(ReceivedMessage.control_id)))
    assert "INHAND1" in controls and "HALF1" not in controls


def login_attempt(url: str, n: int, jar: httpx.Cookies) -> int:
    """One wrong password, on a connection of its own (so any worker may answer), with the flow of the login page."""
    import re

    with httpx.Client(base_url=url, cookies=jar, timeout=30) as http:
        page = http.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf, page.text[:300]
        jar.update(http.cookies)
    with httpx.Client(base_url=url, cookies=jar, timeout=30) as http:
        answer = http.post("/login", data={"identifier": f"19800517{n:03d}00", "password": "x" * 12,
                                           "csrf_token": csrf.group(1)})
        return answer.status_code


def test_the_mllp_listener_cuts_off_a_message_unanswered_after_the_grace_and_exits_1(
    platform: Platform, hospital, tmp_path: Path  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port, health_port = free_port(), free_port()
    env = environment(platform, PROMETHEUS_MULTIPROC_DIR=str(folder))
    command = opendsp("mllp", "--port", str(port), "--health-port", str(health_port), "--graceful-seconds", "1")
    with running(command, env) as listener:
        wait_ready(f"http://127.0.0.1:{health_port}/healthz/ready", listener)
        held = HeldWrites(platform)
        try:
            in_hand = socket.create_connection(("127.0.0.1", port), timeout=60)
            in_hand.sendall(START + adt("A01", hospital["number"], control="LATE1").encode() + END)
            deadline = time.monotonic() + 30
            while pool_checked_out(folder, "mllp", listener.pid) < 1:  # its transaction waits for the lock
                assert time.monotonic() < deadline and listener.poll() is None, "the message never reached the feed"
                time.sleep(0.05)
            listener.send_signal(signal.SIGTERM)
            # The grace (1 s) runs out while the write is still held: the message is cut off, unanswered.
            assert read_ack(in_hand) == b""
            in_hand.close()
        finally:
            held.release()  # lets the cut transaction's thread end, so that the process can exit
        out, errors = listener.communicate(timeout=60)
    assert listener.returncode == 1, errors
    assert "cut off" in errors


def test_serve_with_two_workers_shares_flows_and_rate_limits_and_finishes_a_request_under_way(
    platform: Platform, tmp_path: Path
) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = environment(platform, PROMETHEUS_MULTIPROC_DIR=str(folder), OPENDSP_RATE_LIMIT_ATTEMPTS="4")
    with running(opendsp("serve", "--port", str(port), "--workers", "2"), env) as server:
        wait_ready(f"{url}/healthz/ready", server)
        deadline = time.monotonic() + 60
        workers: set[str] = set()
        while len(workers) < 2:  # each worker builds its app and follows its pool: a file per process
            workers = {path.stem.rsplit("_", 1)[1] for path in folder.glob("gauge_liveall_*.db")}
            assert time.monotonic() < deadline and server.poll() is None, f"workers seen: {workers}"
            time.sleep(0.1)
        assert str(server.pid) not in workers  # the supervisor serves nothing

        # A login page's flow, signed by one worker, is accepted by any; the rate limit is counted in the database.
        jar = httpx.Cookies()
        statuses = [login_attempt(url, n, jar) for n in range(5)]
        assert statuses[-1] == 429 and 429 not in statuses[:-1] and 403 not in statuses, statuses
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(folder))
        answered = {sample.labels["pid"] for metric in registry.collect() for sample in metric.samples
                    if sample.name == "opendsp_database_pool_size" and sample.labels.get("process") == "web"}
        assert answered == workers

        # SIGTERM with a request under way (its body half sent): it is answered whole, then the server stops.
        body = b"identifier=1980051700000&password=xxxxxxxxxxxx&csrf_token=none"
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        interim = b""
        while b"\r\n\r\n" not in interim:  # "100 Continue": a worker's application is reading the body now
            interim += sock.recv(1)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        sock.sendall(body[:10])
        server.send_signal(signal.SIGTERM)
        lines: list[str] = []
        assert server.stderr is not None
        while not any("Waiting for connections to close" in line for line in lines):
            line = server.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        sock.sendall(body[10:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        sock.close()
        out, errors = server.communicate(timeout=60)
    assert server.returncode == 0, errors
    assert list(folder.glob("gauge_liveall_*.db")) == []  # stopped cleanly: no stale pool series left behind
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 4"), answer[:200]  # refused for its CSRF token, but answered whole
    headers, _, content = rest.partition(b"\r\n\r\n")
    length = [int(h.split(b":")[1]) for h in headers.split(b"\r\n") if h.lower().startswith(b"content-length:")]
    assert length and len(content) == length[0]


def test_serve_in_one_process_stops_on_sigterm_with_exit_status_0(platform: Platform, tmp_path: Path) -> None:
    """uvicorn raises the SIGTERM it handled again once stopped; `opendsp serve` still ends with status 0."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port = free_port()
    with running(opendsp("serve", "--port", str(port)), environment(platform, PROMETHEUS_MULTIPROC_DIR=str(folder))
                 ) as server:
        wait_ready(f"http://127.0.0.1:{port}/healthz/ready", server)
        assert list(folder.glob("gauge_liveall_*.db"))  # its pool followed, as role "web"
        server.send_signal(signal.SIGTERM)
        out, errors = server.communicate(timeout=60)
    assert server.returncode == 0, errors
    assert "Finished server process" in errors
    assert list(folder.glob("gauge_liveall_*.db")) == []
