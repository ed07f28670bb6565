"""Optuna's RDB storage with a running trial's epoch reports and user attributes written together.

`trial.report` and `trial.set_user_attr` each cost Optuna's RDB storage one transaction; a demo
trial makes about twenty of them, a few percent of its wall time. Optuna's pruners read a running
trial's reports from the trial object itself, not from the database, so those writes can wait:
this storage holds them and writes them in one transaction when the trial's state changes (it
completes, is pruned or fails), when anything else about it is written or it is read back, and at
least every `flush_seconds` so that optuna-dashboard still follows the trial live.

It subclasses `optuna.storages.RDBStorage` and writes the rows through Optuna's own table models
and session helper (`optuna.storages._rdb`, not a public API: pyproject.toml bounds the Optuna
version); tests/test_study.py checks the result on SQLite, PostgreSQL and MySQL.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Container
from typing import Any

import optuna
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState

FLUSH_SECONDS = 5.0  # the longest a report waits before it is written (what the dashboard lags at most)


def rows_by(session: Any, model: type, trial_id: int, column: Any, keys: dict) -> dict:
    """The trial's stored rows of `model` whose `column` is one of `keys`, by that value."""
    if not keys:
        return {}
    return {getattr(row, column.key): row
            for row in session.query(model).filter(model.trial_id == trial_id, column.in_(list(keys)))}


def added(session: Any, row: Any) -> Any:
    session.add(row)
    return row


class BatchedRDBStorage(optuna.storages.RDBStorage):
    """RDBStorage that writes a running trial's reports and user attributes in batches."""

    def __init__(self, *args: Any, flush_seconds: float = FLUSH_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flush_seconds = flush_seconds
        self._pending: dict[int, tuple[dict[int, float], dict[str, Any]]] = {}  # trial id: (reports, attributes)
        self._pending_since = time.monotonic()
        self._pending_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Picklable like RDBStorage; held writes stay with the process that made them."""
        state = super().__getstate__()
        del state["_pending"], state["_pending_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._pending, self._pending_lock = {}, threading.Lock()

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        with self._pending_lock:
            self._pending.setdefault(trial_id, ({}, {}))[0][step] = intermediate_value
        self._flush_if_due()

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._pending_lock:
            self._pending.setdefault(trial_id, ({}, {}))[1][key] = value
        self._flush_if_due()

    def flush(self) -> None:
        """Write every held report and attribute, in one transaction."""
        with self._pending_lock:
            pending, self._pending = self._pending, {}
            self._pending_since = time.monotonic()
            if not pending:
                return
            with _create_scoped_session(self.scoped_session) as session:
                for trial_id, (reports, attributes) in pending.items():
                    self._write(session, trial_id, reports, attributes)

    def _write(self, session: Any, trial_id: int, reports: dict[int, float], attributes: dict[str, Any]) -> None:
        """One trial's held rows: the trial checked once, existing rows updated, new ones added."""
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
        self.check_trial_is_updatable(trial_id, trial.state)
        values = models.TrialIntermediateValueModel
        rows = rows_by(session, values, trial_id, values.step, reports)
        for step, value in reports.items():
            row = rows.get(step) or added(session, values(trial_id=trial_id, step=step))
            row.intermediate_value, row.intermediate_value_type = values.intermediate_value_to_stored_repr(value)
        attrs = models.TrialUserAttributeModel
        rows = rows_by(session, attrs, trial_id, attrs.key, attributes)
        for key, value in attributes.items():
            (rows.get(key) or added(session, attrs(trial_id=trial_id, key=key))).value_json = json.dumps(value)

    def _flush_if_due(self) -> None:
        if time.monotonic() - self._pending_since >= self.flush_seconds:
            self.flush()

    # Everything else that writes a trial or reads one back sees the held writes first.

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        self.flush()
        return super().set_trial_state_values(trial_id, state, values)

    def _set_trial_param(self, *args: Any, **kwargs: Any) -> None:  # set_trial_param and the cache's both call it
        self.flush()
        super()._set_trial_param(*args, **kwargs)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.flush()
        super().set_trial_system_attr(trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        self.flush()
        return super().get_trial(trial_id)

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        self.flush()
        return super().get_all_trials(study_id, deepcopy, states)
