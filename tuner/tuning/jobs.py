"""The job queue of `tuner submit` and `tuner worker`: one row per study in a table of the study
storage's own database (`tuner_jobs`, beside Optuna's tables), so the queue needs nothing the
shared study does not: no broker, no scheduler.

A job is a study with its config, a trial budget and a priority. A worker claims one trial of
the best job at a time: the highest priority first, then the job whose last claim is oldest
(round-robin among equal priorities), never past a job's budget. A claim is one conditional
UPDATE (`claimed < budget`), so two workers can never take the last trial twice, on any backend;
PostgreSQL and MySQL also skip the rows other workers hold locked (`FOR UPDATE SKIP LOCKED`)
while they pick. A trial that a stopped or dead worker leaves behind gives its claim back
(`return_claim`) when it is re-queued, so its retry runs within the budget.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from tuner.errors import StorageError

METADATA = sa.MetaData()
JOBS = sa.Table(
    "tuner_jobs", METADATA,
    sa.Column("study_name", sa.String(512), primary_key=True),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("budget", sa.Integer, nullable=False),  # trials to run, over every submit of the study
    sa.Column("claimed", sa.Integer, nullable=False, default=0),  # trials handed to workers
    sa.Column("state", sa.String(16), nullable=False, default="queued"),  # queued, cancelled or failed
    sa.Column("config", sa.Text, nullable=False),  # the full config as JSON; its data is the study's snapshot
    sa.Column("submitted", sa.DateTime, nullable=False),
    sa.Column("last_claim", sa.DateTime, nullable=False),  # round-robin: the oldest claim goes first
    sa.Column("deadline", sa.DateTime, nullable=True),  # no trials handed out after it (--timeout)
    sa.Column("failures", sa.Integer, nullable=False, default=0),  # trials failed because a worker could not set the job up
    sa.Column("reason", sa.Text, nullable=True),  # why the last such failure, or the job, failed
    sa.Column("stop_running", sa.Boolean, nullable=False, default=False),  # cancelled with --now: running trials stop
)
QUEUED, CANCELLED, FAILED = "queued", "cancelled", "failed"
MAX_SETUP_FAILURES = 3  # a job whose data or config no worker could read this often is marked failed


@dataclass(frozen=True)
class Job:
    study_name: str
    priority: int
    budget: int
    claimed: int
    state: str
    config: dict[str, Any]
    submitted: datetime
    deadline: datetime | None
    failures: int
    reason: str | None
    stop_running: bool


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC: every backend stores it as given


def create_table(engine: sa.Engine) -> None:
    """The jobs table, created once (two workers starting together may race to create it)."""
    for attempt in range(5):
        try:
            METADATA.create_all(engine, checkfirst=True)
            return
        except sa.exc.DBAPIError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def as_job(row: sa.Row) -> Job:
    values = dict(row._mapping)
    return Job(**{**{key: values[key] for key in Job.__dataclass_fields__ if key != "config"},
                  "config": json.loads(values["config"])})


def submit(engine: sa.Engine, study_name: str, config: dict[str, Any], n_trials: int, priority: int | None,
           timeout: float | None) -> Job:
    """Queue `n_trials` trials of the study: a new job, or more budget for the study's job (which is
    queued again if it was cancelled or failed, with its failures forgotten)."""
    create_table(engine)
    submitted = now()
    deadline = submitted + timedelta(seconds=timeout) if timeout else None
    text = json.dumps(config)
    with engine.begin() as connection:
        found = connection.execute(sa.select(JOBS).where(JOBS.c.study_name == study_name).with_for_update()).first()
        if found is None:
            connection.execute(JOBS.insert().values(
                study_name=study_name, priority=priority or 0, budget=n_trials, claimed=0, state=QUEUED, config=text,
                submitted=submitted, last_claim=submitted, deadline=deadline, failures=0, stop_running=False))
        else:
            connection.execute(JOBS.update().where(JOBS.c.study_name == study_name).values(
                budget=JOBS.c.budget + n_trials, state=QUEUED, config=text, deadline=deadline, failures=0, reason=None,
                stop_running=False,
                **({} if priority is None else {"priority": priority})))
    return get_job(engine, study_name)


def get_job(engine: sa.Engine, study_name: str) -> Job:
    """The study's job; a StorageError naming the known ones when it has none."""
    with engine.connect() as connection:
        row = connection.execute(sa.select(JOBS).where(JOBS.c.study_name == study_name)).first()
    if row is None:
        known = ", ".join(job.study_name for job in list_jobs(engine)) or "none"
        raise StorageError(f"no job for study {study_name!r} in this storage (jobs: {known}); `tuner submit` queues one")
    return as_job(row)


def list_jobs(engine: sa.Engine) -> list[Job]:
    """Every job, by priority, then by submission."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(JOBS).order_by(JOBS.c.priority.desc(), JOBS.c.submitted)).all()
    return [as_job(row) for row in rows]


def claim(engine: sa.Engine) -> Job | None:
    """Take one trial of the best claimable job: its row with the claim counted, or None when no
    job has a trial left to hand out."""
    while True:
        moment = now()
        claimable = sa.and_(JOBS.c.state == QUEUED, JOBS.c.claimed < JOBS.c.budget,
                            sa.or_(JOBS.c.deadline.is_(None), JOBS.c.deadline > moment))
        with engine.begin() as connection:
            pick = (sa.select(JOBS.c.study_name).where(claimable)
                    .order_by(JOBS.c.priority.desc(), JOBS.c.last_claim, JOBS.c.submitted).limit(1))
            if engine.dialect.name in ("postgresql", "mysql", "mariadb"):
                pick = pick.with_for_update(skip_locked=True)
            name = connection.execute(pick).scalar()
            if name is None:
                return None
            taken = connection.execute(JOBS.update().where(sa.and_(JOBS.c.study_name == name, claimable))
                                       .values(claimed=JOBS.c.claimed + 1, last_claim=moment)).rowcount
            if taken == 1:
                row = connection.execute(sa.select(JOBS).where(JOBS.c.study_name == name)).first()
                return as_job(row)
        # another worker took that job's last trial between the pick and the update: pick again


def return_claim(engine: sa.Engine, study_name: str) -> None:
    """Give back one claim: its trial was re-queued for a retry (`RetryAndReturnClaim`)."""
    with engine.begin() as connection:
        connection.execute(JOBS.update().where(sa.and_(JOBS.c.study_name == study_name, JOBS.c.claimed > 0))
                           .values(claimed=JOBS.c.claimed - 1))


def record_setup_failure(engine: sa.Engine, study_name: str, reason: str) -> bool:
    """Count a trial failed because this worker could not read the job's data or config; True when
    that marks the job failed (`MAX_SETUP_FAILURES`)."""
    with engine.begin() as connection:
        connection.execute(JOBS.update().where(JOBS.c.study_name == study_name)
                           .values(failures=JOBS.c.failures + 1, reason=reason))
        failed = connection.execute(JOBS.update().where(sa.and_(
            JOBS.c.study_name == study_name, JOBS.c.failures >= MAX_SETUP_FAILURES, JOBS.c.state == QUEUED))
            .values(state=FAILED)).rowcount
    return failed == 1


def cancel(engine: sa.Engine, study_name: str, now: bool = False) -> Job:
    """Stop handing out the job's trials; `now`: its running trials stop too (`stops_running`).
    Its completed trials stay in the study."""
    get_job(engine, study_name)
    with engine.begin() as connection:
        connection.execute(JOBS.update().where(JOBS.c.study_name == study_name)
                           .values(state=CANCELLED, **({"stop_running": True} if now else {})))
    return get_job(engine, study_name)


def stops_running(engine: sa.Engine, study_name: str) -> bool:
    """Whether the job was cancelled with --now: a worker running one of its trials stops it."""
    with engine.connect() as connection:
        return bool(connection.execute(sa.select(JOBS.c.stop_running).where(JOBS.c.study_name == study_name)).scalar())
