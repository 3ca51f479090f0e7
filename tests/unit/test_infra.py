"""What can be checked of infra/ without a container engine: the compose file, the
environment it hands the portal, the Dockerfile's shape, and the image's command run
directly."""

from __future__ import annotations

import json
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from portal.config import PROJECT_ROOT, Settings

INFRA = PROJECT_ROOT / "infra"
PORTAL_IMAGE = "placement-portal:local"
# Read by boto3 itself, not by the portal (see infra/README.md).
AWS_SDK = {
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
}
TOKEN = "infra-metrics-token-0123456789abcdef"


class RecordingEnviron(dict[str, str]):
    """An empty environment that remembers every name asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return super().__contains__(key)


def settings_variables() -> set[str]:
    environ = RecordingEnviron()
    Settings.from_env(environ, Path("/srv/portal/instance"))
    return environ.asked


def gunicorn_variables() -> set[str]:
    source = (INFRA / "gunicorn.conf.py").read_text()
    return set(re.findall(r"""environ(?:\.get)?[(\[]["']([A-Z0-9_]+)["']""", source))


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((INFRA / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def portal_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("image") == PORTAL_IMAGE
    }


def environment_names(service: dict[str, Any]) -> set[str]:
    environment = service.get("environment", [])
    if isinstance(environment, dict):
        return set(environment)
    return {entry.split("=", 1)[0] for entry in environment}


# --- the compose file ------------------------------------------------------------------------


def test_compose_file_parses_with_the_portal_and_its_services() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "s3", "migrate", "app"} <= set(services)
    assert "app" in portal_services() and "migrate" in portal_services()


def test_every_variable_handed_to_the_portal_is_one_it_reads() -> None:
    known = settings_variables() | gunicorn_variables() | AWS_SDK
    for name, service in portal_services().items():
        unknown = environment_names(service) - known
        assert not unknown, f"{name}: nothing reads {sorted(unknown)}"


def test_the_portal_runs_in_production_mode_on_postgresql_redis_and_s3() -> None:
    for name, service in portal_services().items():
        environment = dict(entry.split("=", 1) for entry in service["environment"] if "=" in entry)
        assert environment["PORTAL_ENV"] == "production", name
        assert environment["DATABASE_URL"].startswith("postgresql+psycopg://"), name
        assert environment["REDIS_URL"].startswith("redis://"), name
        assert environment["STORAGE_URL"].startswith("s3://"), name


def test_the_app_is_health_checked_on_readiness() -> None:
    check = " ".join(compose()["services"]["app"]["healthcheck"]["test"])
    assert "/readyz" in check


def test_every_setting_is_documented() -> None:
    readme = (INFRA / "README.md").read_text()
    missing = {
        name for name in settings_variables() | gunicorn_variables() if f"`{name}`" not in readme
    }
    assert not missing, f"infra/README.md does not describe {sorted(missing)}"


# --- the Dockerfile ----------------------------------------------------------------------------


def dockerfile_stages() -> list[str]:
    text = (INFRA / "Dockerfile").read_text()
    return re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]


def image_command() -> list[str]:
    final = dockerfile_stages()[-1]
    [command] = re.findall(r"^CMD (\[.*\])$", final, flags=re.MULTILINE)
    parsed = json.loads(command)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


def test_the_image_is_multi_stage_non_root_without_build_tools() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    final = stages[-1]
    assert re.search(r"^USER portal$", final, flags=re.MULTILINE)
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    for tool in ("gcc", "build-essential", "python3-dev", "pip install"):
        assert tool not in final, tool
    assert "RUN pip install .\n" in stages[0]


def test_the_image_command_is_gunicorn_with_the_config() -> None:
    assert image_command() == ["gunicorn", "-c", "infra/gunicorn.conf.py", "portal:create_app()"]


# --- gunicorn's settings ----------------------------------------------------------------------


def gunicorn_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str
) -> dict[str, Any]:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    for name in ("WEB_CONCURRENCY", "PORT", "LOG_FORMAT", "PORTAL_ENV"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(INFRA / "gunicorn.conf.py"))


def test_workers_follow_the_cpus_capped_by_web_concurrency(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cpus = os.cpu_count() or 1
    assert gunicorn_settings(monkeypatch, tmp_path)["workers"] == 2 * cpus + 1
    assert gunicorn_settings(monkeypatch, tmp_path, WEB_CONCURRENCY="1")["workers"] == 1
    assert gunicorn_settings(monkeypatch, tmp_path, PORT="9123")["bind"] == "0.0.0.0:9123"
    settings = gunicorn_settings(monkeypatch, tmp_path)
    assert settings["timeout"] == 30 and settings["graceful_timeout"] == 25


def test_gunicorn_logs_json_in_production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert gunicorn_settings(monkeypatch, tmp_path, PORTAL_ENV="production")["LOG_FORMAT"] == "json"
    assert gunicorn_settings(monkeypatch, tmp_path)["LOG_FORMAT"] == "text"
    assert gunicorn_settings(monkeypatch, tmp_path, LOG_FORMAT="json")["LOG_FORMAT"] == "json"


# --- the image's command, run directly ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """The image's CMD on a free port, from the project root as /app is in the image."""
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"left by an earlier run")
    environment = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(PROJECT_ROOT),
        "HOME": str(tmp_path),
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PORTAL_ENV": "development",
        "LOG_FORMAT": "json",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
        "STORAGE_URL": (tmp_path / "documents").as_uri(),
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603 - the Dockerfile's own command
            image_command(), cwd=PROJECT_ROOT, env=environment, stdout=out, stderr=err
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if fetch(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{stderr.read_text()}")
            time.sleep(0.2)
        yield base, stdout, stderr
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def access_lines_once_written(
    stdout: Path, request_ids: list[str], path: str
) -> list[dict[str, Any]]:
    """Gunicorn's access lines, read again until those named are there: each is written
    after its response, so a busy machine can answer before it logs."""
    deadline = time.monotonic() + 10
    while True:
        try:
            logged = json_lines(stdout)
        except json.JSONDecodeError:  # a line half written
            logged = []
        access = [line for line in logged if line.get("logger") == "gunicorn.access"]
        seen = {line.get("request_id") for line in access}
        if set(request_ids) <= seen and any(line["path"] == path for line in access):
            return access
        assert time.monotonic() < deadline, "gunicorn did not write the access lines"
        time.sleep(0.05)


def test_the_image_command_serves_the_portal(served: tuple[str, Path, Path]) -> None:
    base, stdout, stderr = served
    status, headers, body = fetch(f"{base}/healthz", {"X-Request-Id": "infra-check-1"})
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["X-Request-Id"] == "infra-check-1"
    status, _headers, body = fetch(f"{base}/readyz")
    assert status == 200
    assert json.loads(body)["checks"] == {
        "database": "ok", "storage": "ok", "redis": "not configured"
    }  # fmt: skip
    for _ in range(6):
        fetch(f"{base}/healthz")

    # /metrics adds up both workers, and left nothing of the stale file behind.
    assert fetch(f"{base}/metrics")[0] == 403
    status, _headers, body = fetch(f"{base}/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    # 1 + 6 here, and the ones the fixture sent while waiting for the start (at least 1).
    [count] = re.findall(
        r'portal_http_request_duration_seconds_count\{endpoint="healthz",method="GET",'
        r'status="200"\} (\d+)\.0', body
    )  # fmt: skip
    assert int(count) >= 8
    access = access_lines_once_written(stdout, ["infra-check-1"], "/readyz")
    [checked] = [line for line in access if line["request_id"] == "infra-check-1"]
    assert checked["path"] == "/healthz"
    assert checked["status"] == 200
    assert checked["method"] == "GET"
    assert isinstance(checked["duration_ms"], float)
    assert {"time", "level", "message", "remote_addr", "user_agent"} <= set(checked)
    generated = [line["request_id"] for line in access if line["path"] == "/readyz"]
    assert len(generated) == 1 and re.fullmatch(r"[0-9a-f]{32}", generated[0])
    errors = json_lines(stderr)
    assert any(line["message"].startswith("Starting gunicorn") for line in errors)
