"""The dashboard over HTTP, and docker-compose.yml checked as far as this machine can (no Docker engine)."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest
import yaml
from conftest import REPO, write_study

from tuner.config.loading import load_config
from tuner.tuning.runner import tune


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None if only loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = sock.getsockname()[0]
    return None if address.startswith("127.") else address


def get_json(url: str, deadline: float) -> dict:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_dashboard_serves_the_study_and_its_trials_on_localhost(tmp_path):
    config_path = write_study(tmp_path, epochs=1)
    tune(load_config(config_path, ["study.n_trials=2"]), f"sqlite:///{tmp_path / 'small.db'}", progress=False)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tuner.cli.parser", "dashboard", str(config_path), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_line = process.stdout.readline()
        assert re.search(rf"http://127.0.0.1:{port}/dashboard/studies/\d+", first_line), first_line
        studies = get_json(f"http://127.0.0.1:{port}/api/studies", time.monotonic() + 30)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["small"]
        detail = get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}?after=0", time.monotonic() + 5)
        assert len(detail["trials"]) == 2
        address = outward_address()
        if address:  # bound to loopback only: the machine's other address is refused
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=1).close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_dashboard_warns_when_bound_beyond_localhost(tmp_path):
    config_path = write_study(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "tuner.cli.parser", "dashboard", str(config_path), "--host", "0.0.0.0",
                                "--port", str(free_port())], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        process.stdout.readline()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "no authentication" in stderr


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_services_volume_healthcheck_and_credentials(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "worker", "dashboard"}
    postgres = services["postgres"]
    assert "pgdata" in compose["volumes"] and any("pgdata:" in v for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "${POSTGRES_PASSWORD" in postgres["environment"]["POSTGRES_PASSWORD"]
    assert "container_name" not in services["worker"]  # `--scale worker=4` needs no fixed name
    for name in ("worker", "dashboard"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "${POSTGRES_PASSWORD" in services[name]["environment"]["TUNER_STORAGE"]
    assert services["dashboard"]["ports"] == ["127.0.0.1:8080:8080"]
    example = (REPO / ".env.example").read_text()
    for variable in re.findall(r"\$\{(\w+)", (REPO / "docker-compose.yml").read_text()):
        assert f"{variable}=" in example, variable


def expand(text: str, env: dict) -> str:
    """Compose's ${VAR:-default} and ${VAR:?message} substitution."""
    return re.sub(r"\$\{(\w+)(?::[-?]([^}]*))?\}", lambda m: env.get(m.group(1)) or m.group(2) or "", text)


@pytest.mark.serial
def test_compose_commands_run_against_the_local_postgres(compose, postgres_url, tmp_path):
    """What the README submits and the worker container runs, run here with TUNER_STORAGE pointing
    at the local server (and the artifacts volume a local folder)."""
    env = {**os.environ, "TUNER_STORAGE": postgres_url}
    submit = ["submit", "studies/ecommerce_daily.toml", "--study", "compose_demo", "--n-trials", "1",
              "--set", "train.epochs=1", "--set", f"study.artifacts='{tmp_path}'"]
    run = subprocess.run([sys.executable, "-m", "tuner.cli.parser", *submit], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "compose_demo", run.stderr
    worker = [expand(part, env) for part in compose["services"]["worker"]["command"]]
    assert worker == ["worker"]
    run = subprocess.run([sys.executable, "-m", "tuner.cli.parser", *worker, "--exit-when-idle", "2",
                          "--cache", str(tmp_path / "cache")], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert len(optuna.load_study(study_name="compose_demo", storage=postgres_url).trials) == 1
    assert any(v.startswith("artifacts:") for v in compose["services"]["worker"]["volumes"])
    dashboard = [expand(part, env) for part in compose["services"]["dashboard"]["command"]]
    assert dashboard[0] == "dashboard"
    run = subprocess.run([sys.executable, "-m", "tuner.cli.parser", dashboard[0], "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "--host" in run.stdout


def test_dockerfile_installs_the_pinned_cpu_torch_first():
    lines = (REPO / "Dockerfile").read_text().splitlines()
    torch_line = next(i for i, line in enumerate(lines) if "torch==2.13.0" in line)
    package_line = next(i for i, line in enumerate(lines) if "'.[postgres]'" in line)
    assert torch_line < package_line
    assert lines[-1] == 'ENTRYPOINT ["tuner"]'
