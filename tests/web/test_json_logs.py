"""``OPENDSP_LOG_FORMAT=json``: one JSON object a line, carrying the id of the request it was written for."""

from __future__ import annotations

import json
import logging
import logging.config

from fastapi.testclient import TestClient

from opendsp.platform import Platform
from opendsp.web.access_log import JsonFormatter, server_options
from opendsp.web.app import create_app


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_every_line_written_while_answering_a_request_carries_its_id(platform: Platform) -> None:
    import shutil

    from opendsp.content.stores import LocalFolderStore

    client = TestClient(create_app(platform=platform))
    store = platform.blob_store
    assert isinstance(store, LocalFolderStore)
    shutil.rmtree(store.root)  # so that the readiness check logs a warning of its own, in the request
    lines = Lines()
    loggers = [logging.getLogger("opendsp.access"), logging.getLogger("opendsp.health")]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(lines)
        logger.setLevel(logging.INFO)
    try:
        answer = client.get("/healthz/ready", headers={"X-Request-ID": "probe-0123456789"})
        logging.getLogger("opendsp.access").info("after the request")
    finally:
        for logger, level in zip(loggers, before, strict=True):
            logger.removeHandler(lines)
            logger.setLevel(level)
    assert answer.status_code == 503 and answer.headers["x-request-id"] == "probe-0123456789"
    parsed = [json.loads(line) for line in lines.lines]
    health = next(line for line in parsed if line["logger"] == "opendsp.health")
    assert health["level"] == "WARNING" and "content_store" in health["message"]
    access = next(line for line in parsed if line["logger"] == "opendsp.access" and "/healthz/ready" in line["message"])
    assert access["message"].startswith("GET /healthz/ready 503 ")
    assert health["request_id"] == access["request_id"] == "probe-0123456789"
    assert "request_id" not in parsed[-1]  # written outside any request
    assert parsed[-1]["time"].endswith("+00:00")


def test_the_servers_json_configuration_formats_every_handler_as_json() -> None:
    config = server_options(json_logs=True)["log_config"]
    assert {formatter["()"] for formatter in config["formatters"].values()} == {"opendsp.web.access_log.JsonFormatter"}
    text = server_options()["log_config"]
    assert "JsonFormatter" not in json.dumps(text)
