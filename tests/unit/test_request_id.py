"""Every request has an id: taken from a well-formed X-Request-Id, else made; sent back,
and on every log record made while the request runs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app, db
from portal.config import Settings
from portal.services import letters
from portal.web import observability
from tests.conftest import TEST_SECRET

GENERATED = re.compile(r"[0-9a-f]{32}")
TOKEN = "q2Zx" * 10 + "abc"  # the shape of a payment link token: 43 URL-safe characters


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app of this module's own, with a route that logs. Building it binds the shared
    session and configures the letters: both are put back afterwards."""
    previous_bind = db.registry.session_factory.kw.get("bind")
    letter_settings = letters.configured()
    folder = tmp_path_factory.mktemp("request-id")
    application = create_app(
        {
            "PORTAL_ENV": "testing",
            "JOBS_BACKEND": "inline",
            "SECRET_KEY": TEST_SECRET,
            "DATABASE_URL": f"sqlite:///{folder / 'portal.db'}",
            "STORAGE_URL": (folder / "documents").as_uri(),
            "LOG_FORMAT": "json",
        }
    )

    @application.get("/log-something")
    def log_something() -> str:
        logging.getLogger("portal.example").info("working on case %s", 4711)
        return "logged"

    yield application
    application.extensions["portal.engine"].dispose()
    db.registry.remove()
    db.registry.configure(bind=previous_bind)
    letters.configure(letter_settings)
    observability.configure_logging("text")  # as the suite's apps (testing) log


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_a_well_formed_id_is_kept_and_sent_back(client: FlaskClient) -> None:
    for sent in ("abc-DEF-123", "0" * 64, "x", "6f1c2a9e-33b4-4c1d-9a8e-2b7f5d1e0c4a"):
        response = client.get("/healthz", headers={"X-Request-Id": sent})
        assert response.headers["X-Request-Id"] == sent


@pytest.mark.parametrize(
    "sent",
    ["", "has space", "x" * 65, "semi;colon", "a/b", "ünïcode", "a_b", "<script>", "a.b"],
)
def test_a_malformed_id_is_replaced(client: FlaskClient, sent: str) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": sent})
    answered = response.headers["X-Request-Id"]
    assert answered != sent
    assert GENERATED.fullmatch(answered)


def test_each_request_without_an_id_gets_a_new_one(client: FlaskClient) -> None:
    answered = {client.get("/healthz").headers["X-Request-Id"] for _ in range(5)}
    assert len(answered) == 5
    assert all(GENERATED.fullmatch(one) for one in answered)


def test_error_pages_carry_the_id_too(client: FlaskClient) -> None:
    response = client.get("/nothing-here", headers={"X-Request-Id": "lost-1"})
    assert response.status_code == 404
    assert response.headers["X-Request-Id"] == "lost-1"


def test_log_records_during_the_request_carry_its_id(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="portal.example"):
        response = client.get("/log-something", headers={"X-Request-Id": "trace-42"})
    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "portal.example"]
    assert record.request_id == "trace-42"  # type: ignore[attr-defined]
    line = json.loads(observability.json_formatter().format(record))
    assert line["request_id"] == "trace-42"
    assert line["message"] == "working on case 4711"
    assert line["level"] == "INFO"
    assert line["logger"] == "portal.example"
    assert "time" in line


def test_a_generated_id_is_the_one_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="portal.example"):
        response = client.get("/log-something")
    [record] = [r for r in caplog.records if r.name == "portal.example"]
    assert record.request_id == response.headers["X-Request-Id"]  # type: ignore[attr-defined]


def test_records_outside_a_request_have_no_id(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="portal.example"):
        logging.getLogger("portal.example").info("a command's line")
    [record] = [r for r in caplog.records if r.name == "portal.example"]
    assert not hasattr(record, "request_id")
    assert "request_id" not in json.loads(observability.json_formatter().format(record))
    text = logging.Formatter(observability.TEXT_FORMAT, defaults={"request_id": "-"})
    assert text.format(record).endswith("portal.example [-] a command's line")


def test_payment_link_tokens_never_reach_the_log() -> None:
    record = logging.LogRecord(
        "portal", logging.ERROR, __file__, 1, "Exception on /pay/%s/checkout [POST]", (TOKEN,),
        None,
    )  # fmt: skip
    for formatter in (
        observability.json_formatter(),
        observability.RedactingTextFormatter(observability.TEXT_FORMAT,
                                             defaults={"request_id": "-"}),
    ):  # fmt: skip
        line = formatter.format(record)
        assert TOKEN not in line
        assert "/pay/[token]/checkout" in line
    assert observability.redact("/pay/lookup /pay/language/de") == "/pay/lookup /pay/language/de"


def test_building_apps_again_keeps_one_log_handler(app: Flask) -> None:
    observability.configure_logging("text")
    observability.configure_logging("json")
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "portal.observability"]
    assert len(ours) == 1
    assert isinstance(ours[0].formatter, observability.RedactingJsonFormatter)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PORTAL_ENV": "production"}, "json"),
        ({"PORTAL_ENV": "development"}, "text"),
        ({}, "text"),
        ({"PORTAL_ENV": "production", "LOG_FORMAT": "text"}, "text"),
        ({"LOG_FORMAT": "json"}, "json"),
    ],
)
def test_log_format_defaults_to_json_in_production(environ: dict[str, str], expected: str) -> None:
    assert Settings.from_env(environ, Path("/srv/portal/instance")).log_format == expected
