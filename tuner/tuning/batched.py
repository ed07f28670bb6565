"""Optuna's RDB storage with a running trial's writes held and made together.

Each `suggest_*`, `trial.report`, `trial.set_user_attr` and artifact upload costs Optuna's RDB
storage a transaction of its own; a demo trial makes about twenty, a few percent of its wall time
on SQLite. Optuna's pruners and samplers read a running trial's own values from the trial object,
not from the database, so those writes can wait: this storage holds them and writes them in one
transaction
- when the trial's state changes (it completes, is pruned or fails), when it is read back, and
  at least every `flush_seconds`, so that optuna-dashboard still follows the trial live;
- for parameters, also at the trial's first other write (the objective's first attribute or
  report): a trial's sampled parameters reach the database together, right after sampling, so
  other workers' samplers (`constant_liar`) and the dashboard see them while the trial trains.

A connection the server closes in the middle of one of these writes (a restart, a failover, an
administrator's `pg_terminate_backend`) is not lost with the run: the held writes, a trial's
state change and the reads a worker makes are tried once more on a fresh connection
(`pool_pre_ping` covers only connections that dropped while idle in the pool). Creating a trial
is tried again by Optuna itself (up to five times); each new trial is stored with a random token
(system attribute `CREATION_TOKEN`), so that a try after a first one whose commit landed before
the connection closed finds that trial instead of adding a second one, which no worker would run
and which would stay RUNNING.

It subclasses `optuna.storages.RDBStorage` and writes the rows through Optuna's own table models,
session helper and row writers (`optuna.storages._rdb`, not a public API: pyproject.toml bounds
the Optuna version); tests/test_study.py checks the result on SQLite, PostgreSQL and MySQL.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any, TypeVar

import optuna
import sqlalchemy.exc
from optuna.distributions import BaseDistribution, check_distribution_compatibility, distribution_to_json
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0  # the longest a report waits before it is written (what the dashboard lags at most)
CREATION_TOKEN = "tuner:creation_token"  # system attribute: a random token that tells a created trial's retry it landed
Result = TypeVar("Result")


@dataclass
class HeldWrites:
    """One running trial's writes not yet in the database."""

    params: dict[str, tuple[float, BaseDistribution, BaseDistribution | None]] = field(default_factory=dict)
    reports: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)


def rows_by(session: Any, model: type, trial_id: int, column: Any, keys: dict) -> dict:
    """The trial's stored rows of `model` whose `column` is one of `keys`, by that value."""
    if not keys:
        return {}
    return {getattr(row, column.key): row
            for row in session.query(model).filter(model.trial_id == trial_id, column.in_(list(keys)))}


def added(session: Any, row: Any) -> Any:
    session.add(row)
    return row


def dropped_connection(exc: BaseException) -> bool:
    """True for a storage error caused by the server closing the connection: SQLAlchemy has then
    invalidated it, and the pool opens a fresh one for the next session."""
    cause = exc.__cause__ if isinstance(exc, optuna.exceptions.StorageInternalError) else exc
    return isinstance(cause, sqlalchemy.exc.DBAPIError) and cause.connection_invalidated


def once_more_if_dropped(action: Callable[[], Result], second: Callable[[], Result] | None = None) -> Result:
    """`action()`; when the server closed the connection during it, `second()` (default: `action`
    again), which should allow for the first try's commit having landed after all."""
    try:
        return action()
    except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.DBAPIError) as exc:
        if not dropped_connection(exc):
            raise
        log.warning("the database closed the connection in the middle of a transaction; trying it once more")
        return (second or action)()


class BatchedRDBStorage(optuna.storages.RDBStorage):
    """RDBStorage that writes a running trial's parameters, reports and attributes in batches."""

    def __init__(self, *args: Any, flush_seconds: float = FLUSH_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flush_seconds = flush_seconds
        self._held: dict[int, HeldWrites] = {}  # by trial id
        self._running: set[int] = set()  # trials this process started and has not finished: the ones held
        self._creating = threading.local()  # a trial being created by this thread: its token and tries so far
        self._held_since = time.monotonic()
        self._held_lock = threading.Lock()
        self._silent_since: dict[int, dict[int, float]] = {}  # by study: other processes' running trials with no
        # heartbeat yet, and when this process first saw each so

    def __getstate__(self) -> dict[str, Any]:
        """Picklable like RDBStorage; held writes stay with the process that made them."""
        state = super().__getstate__()
        del state["_held"], state["_running"], state["_held_lock"], state["_creating"], state["_silent_since"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._held, self._running, self._held_lock, self._creating = {}, set(), threading.Lock(), threading.local()
        self._silent_since = {}

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        """Optuna's (which tries up to five times), with a new `CREATION_TOKEN` for this trial
        (`_get_prepared_new_trial` stores it and looks for it)."""
        if template_trial is not None and CREATION_TOKEN in template_trial.system_attrs:  # a re-queued trial's
            template_trial = copy.deepcopy(template_trial)
            template_trial.system_attrs = {k: v for k, v in template_trial.system_attrs.items() if k != CREATION_TOKEN}
        self._creating.token, self._creating.tries = uuid.uuid4().hex, 0
        try:
            trial = super()._create_new_trial(study_id, template_trial)
        finally:
            self._creating.token = None
        if trial.state == TrialState.RUNNING:
            self._running.add(trial._trial_id)
        return trial

    def _get_prepared_new_trial(self, study_id: int, template_trial: FrozenTrial | None, session: Any) -> Any:
        """(Called in the transaction of each try of `_create_new_trial`.) The new trial, stored
        with its creation token; on a later try, the trial an earlier one stored, if its commit
        landed before the connection closed."""
        token = getattr(self._creating, "token", None)
        if token is None:
            return super()._get_prepared_new_trial(study_id, template_trial, session)
        attrs = models.TrialSystemAttributeModel
        if self._creating.tries:
            landed = (session.query(models.TrialModel).join(attrs, attrs.trial_id == models.TrialModel.trial_id)
                      .filter(models.TrialModel.study_id == study_id, attrs.key == CREATION_TOKEN,
                              attrs.value_json == json.dumps(token)).one_or_none())
            if landed is not None:
                log.warning("trial %d was stored before the database closed the connection; not adding it again",
                            landed.number)
                return landed
        self._creating.tries += 1
        trial = super()._get_prepared_new_trial(study_id, template_trial, session)
        session.add(attrs(trial_id=trial.trial_id, key=CREATION_TOKEN, value_json=json.dumps(token)))
        return trial

    def _set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                         distribution: BaseDistribution, previous_distribution: BaseDistribution | None) -> None:
        """(`set_trial_param` and Optuna's cached storage both call this.) Held until the trial's
        next other write; a distribution that conflicts with the one the caller knows fails here,
        one that conflicts with the database's when written."""
        if trial_id not in self._running:
            return super()._set_trial_param(trial_id, param_name, param_value_internal, distribution,
                                            previous_distribution)
        if previous_distribution is not None:
            check_distribution_compatibility(previous_distribution, distribution)
        with self._held_lock:
            self._held_for(trial_id).params[param_name] = (param_value_internal, distribution, previous_distribution)

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        if not self._hold(trial_id, "reports", step, intermediate_value):
            super().set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._hold(trial_id, "user_attrs", key, value):
            super().set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._hold(trial_id, "system_attrs", key, value):
            super().set_trial_system_attr(trial_id, key, value)

    def _hold(self, trial_id: int, kind: str, key: Any, value: Any) -> bool:
        """Hold `key` = `value` among the trial's `kind` writes (a `HeldWrites` field) and flush if
        due; False, holding nothing, for a trial this process is not running."""
        if trial_id not in self._running:
            return False
        with self._held_lock:
            held = self._held_for(trial_id)
            getattr(held, kind)[key] = value
        self._flush_if_due(held)
        return True

    def flush(self) -> None:
        """Write every held write, in one transaction."""
        with self._held_lock:
            held, self._held = self._held, {}
            self._held_since = time.monotonic()
            if not held:
                return

            def write(again: bool = False) -> None:
                with _create_scoped_session(self.scoped_session) as session:
                    for trial_id, writes in held.items():
                        self._write(session, trial_id, writes, again)

            once_more_if_dropped(write, second=lambda: write(again=True))

    def _held_for(self, trial_id: int) -> HeldWrites:
        return self._held.setdefault(trial_id, HeldWrites())

    def _write(self, session: Any, trial_id: int, held: HeldWrites, again: bool = False) -> None:
        """One trial's held rows: the trial checked once; parameters added (through Optuna's own
        writer where the study's distribution is still to be looked up), existing report and
        attribute rows updated, new ones added. `again`: a second try, which leaves out the
        parameters already stored (the first try's commit may have landed)."""
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
        if trial.state.is_finished():  # finished elsewhere: failed as stale while its worker was slow
            # (not `check_trial_is_updatable`: its message reads the trial back, which would flush, under the lock held here)
            raise optuna.exceptions.UpdateFinishedTrialError(
                f"Trial#{trial.number} has already finished and can not be updated.")
        params = models.TrialParamModel
        stored = rows_by(session, params, trial_id, params.param_name, held.params) if again else {}
        for name, (value, distribution, previous) in held.params.items():
            if name in stored:
                continue
            if previous is None:
                self._set_trial_param_without_commit(session, trial_id, name, value, distribution)
            else:
                session.add(models.TrialParamModel(trial_id=trial_id, param_name=name, param_value=value,
                                                   distribution_json=distribution_to_json(distribution)))
        for key, value in held.system_attrs.items():
            self._set_trial_attr_without_commit(session, models.TrialSystemAttributeModel, trial_id, key, value)
        values = models.TrialIntermediateValueModel
        rows = rows_by(session, values, trial_id, values.step, held.reports)
        for step, value in held.reports.items():
            row = rows.get(step) or added(session, values(trial_id=trial_id, step=step))
            row.intermediate_value, row.intermediate_value_type = values.intermediate_value_to_stored_repr(value)
        attrs = models.TrialUserAttributeModel
        rows = rows_by(session, attrs, trial_id, attrs.key, held.user_attrs)
        for key, value in held.user_attrs.items():
            (rows.get(key) or added(session, attrs(trial_id=trial_id, key=key))).value_json = json.dumps(value)

    def _flush_if_due(self, held: HeldWrites) -> None:
        """Flush when the interval has passed, or when this write follows held parameters."""
        if held.params or time.monotonic() - self._held_since >= self.flush_seconds:
            self.flush()

    # A state change and every read of a trial see the held writes first.

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        self.flush()

        def change() -> bool:
            return super(BatchedRDBStorage, self).set_trial_state_values(trial_id, state, values)

        changed = once_more_if_dropped(change, second=lambda: self.finished_as(trial_id, state) or change())
        if changed and state == TrialState.RUNNING:  # a waiting (enqueued or re-queued) trial taken up
            self._running.add(trial_id)
        elif state.is_finished():
            self._running.discard(trial_id)
        return changed

    def finished_as(self, trial_id: int, state: TrialState) -> bool:
        """Whether the trial is stored as finished in `state`: then a state change cut short by a
        dropped connection had landed. (A trial stored as RUNNING may have been taken up by another
        worker: a second try of taking it up finds it taken and leaves it to the heartbeat.)"""
        return state.is_finished() and super().get_trial(trial_id).state == state

    def get_trial(self, trial_id: int) -> FrozenTrial:
        self.flush()
        return once_more_if_dropped(lambda: super(BatchedRDBStorage, self).get_trial(trial_id))

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        self.flush()
        return once_more_if_dropped(lambda: super(BatchedRDBStorage, self).get_all_trials(study_id, deepcopy, states))

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Optuna's stale trials (a heartbeat older than the grace period), and the running trials
        of other processes that this process has seen without any heartbeat for longer than the
        grace period: a worker killed between creating its trial and its heartbeat thread's first
        write, a trial Optuna would leave RUNNING for ever. Each process times them on its own
        clock, so clocks and time zones of the machines do not matter."""
        stale = super()._get_stale_trial_ids(study_id)
        grace = self.grace_period if self.grace_period is not None else 2 * (self.heartbeat_interval or 0)
        with _create_scoped_session(self.scoped_session) as session:
            silent = {trial_id for (trial_id,) in session.query(models.TrialModel.trial_id)
                      .outerjoin(models.TrialHeartbeatModel,
                                 models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id)
                      .filter(models.TrialModel.study_id == study_id, models.TrialModel.state == TrialState.RUNNING,
                              models.TrialHeartbeatModel.trial_heartbeat_id.is_(None))}
        now, before = time.monotonic(), self._silent_since.get(study_id, {})
        since = {trial_id: before.get(trial_id, now) for trial_id in silent - self._running}
        self._silent_since[study_id] = since
        return stale + [trial_id for trial_id, first in since.items() if now - first > grace]
