"""Shared fixtures: small study configs on generated data, written to a temporary folder."""

from __future__ import annotations

import io
import logging
import signal
import subprocess
import sys
import uuid
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tuner import stopping
from tuner.cli.parser import LOG_FORMAT, main
from tuner.data.demo import generate

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "studies" / "ecommerce_daily.toml"

SMALL_CONFIG = """
[data]
path = "sales.csv"
features = ["ad_impressions", "ctr", "cvr", "discount_rate", "seasonality_index"]
window = 14
horizon = {horizon}
aggregation = {{ ad_impressions = "sum" }}

[train]
epochs = {epochs}
batch_size = 64
patience = 3
threads = 1

[search]
hidden_size = [16, 32]
num_heads = [1, 2]
ff_size = [32]

[study]
name = "small"
n_trials = 4
seed = 1
startup_trials = 2
prune_startup_trials = 2

[fit]
seeds = 1
"""


def write_study(folder: Path, days: int = 300, horizon: int = 1, epochs: int = 4, extra: str = "") -> Path:
    """A config plus a CSV of `days` generated rows in `folder`; returns the config path."""
    generate(days=days).to_csv(folder / "sales.csv", index=False)
    path = folder / "study.toml"
    path.write_text(SMALL_CONFIG.format(horizon=horizon, epochs=epochs) + extra)
    return path


def tuner(*args: str) -> subprocess.CompletedProcess:
    """`tuner ARGS` run in this process through the console script's `main`, with its exit status
    and output captured: a process per call would spend seconds importing torch again. Tests of the
    process itself (signals, workers, concurrent runs) start real ones instead."""
    stdout, stderr = io.StringIO(), io.StringIO()
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    unraisable = sys.unraisablehook
    log = logging.StreamHandler(stderr)  # the root logger already has pytest's handlers: basicConfig adds none
    log.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(log)
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 1
    finally:  # what the command installed for its run
        logging.getLogger().removeHandler(log)
        for number, handler in handlers.items():
            signal.signal(number, handler)
        sys.unraisablehook = unraisable
        stopping.STOP_REQUESTED.clear()
    return subprocess.CompletedProcess(["tuner", *args], code, stdout.getvalue(), stderr.getvalue())


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `serial` (waits on timing, signals, processes racing each other) run one after
    another on one pytest-xdist worker, so they never compete with each other for the cores; the
    rest run beside them."""
    for item in items:
        if item.get_closest_marker("serial"):
            item.add_marker(pytest.mark.xdist_group("serial"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a serial test that pytest-xdist did not group (it marks a grouped test's id with
    `@serial`, and has silently stopped doing so before)."""
    if item.config.getoption("loadgroup", False) and item.get_closest_marker("serial") \
            and not item.nodeid.endswith("@serial"):
        pytest.fail("pytest-xdist did not put this serial test in its group: check the pytest pin in pyproject.toml")


@pytest.fixture
def small_study(tmp_path: Path) -> Path:
    return write_study(tmp_path)


SERVERS = {
    "postgresql": "postgresql+psycopg2://postgres@127.0.0.1:5432",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306",
}
ADMIN_DATABASE = {"postgresql": "postgres", "mysql": "mysql"}


def server_database(backend: str) -> str:
    """A fresh database on the local `backend` server for this test session; skip if it is absent."""
    import sqlalchemy

    name = f"tuner_test_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(f"{SERVERS[backend]}/{ADMIN_DATABASE[backend]}", isolation_level="AUTOCOMMIT",
                                     connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    except (sqlalchemy.exc.OperationalError, ModuleNotFoundError) as exc:
        pytest.skip(f"no {backend} server at {SERVERS[backend]}: {str(exc).splitlines()[0]}")
    finally:
        admin.dispose()
    return name


def drop_database(backend: str, name: str) -> None:
    import sqlalchemy

    admin = sqlalchemy.create_engine(f"{SERVERS[backend]}/{ADMIN_DATABASE[backend]}", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if backend == "postgresql":
            connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        else:
            connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name}"))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql", "mysql"])
def backend_url(request, tmp_path_factory) -> str:
    """A storage URL on every backend: SQLite always; PostgreSQL and MySQL where their servers answer.

    One database per backend for the session; tests keep apart by study name (`study_name`)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'studies.db'}"
        return
    name = server_database(request.param)
    yield f"{SERVERS[request.param]}/{name}"
    drop_database(request.param, name)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    name = server_database("postgresql")
    yield f"{SERVERS['postgresql']}/{name}"
    drop_database("postgresql", name)


@pytest.fixture
def study_name() -> str:
    return f"study_{uuid.uuid4().hex[:8]}"
