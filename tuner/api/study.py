"""`tuner.tune` and `tuner.load_study`: a study tuned from a DataFrame or a CSV, in the same storages
as the CLI, and `tuner.Study`, which holds it with its best trial and baselines as data, and fits,
exports and reports it as `tuner fit`, `export` and `report` do."""

from __future__ import annotations

import contextlib
import json
import tempfile
import typing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from tuner.api.inputs import ConfigSource, DataSource, config_from, frame_named, has_data_path
from tuner.api.scope import scoped
from tuner.config.schema import Config
from tuner.data.frames import frame_file
from tuner.errors import TunerError
from tuner.tuning.report import best_as_data, best_warning, html_report
from tuner.tuning.snapshot import snapshot_folder
from tuner.tuning.storage import mask_password, resolve_storage_url, without_password
from tuner.tuning.study import best_params, best_trial, fitted_trials, open_for_reading

if typing.TYPE_CHECKING:
    from tuner.api.model import Model  # imported when used: reading a study never loads torch


@dataclass
class Study:
    """A tuned study: the Optuna study (`study`, in its storage), the settings its trials were
    tuned with (`config`) and its storage URL. The rest is read from the storage when asked, so it
    includes trials that other workers add."""

    study: Any  # optuna.Study
    config: Config
    storage: str
    interrupted: bool = False  # the last `tune` was stopped by Ctrl-C or SIGTERM; completed trials are kept

    def __repr__(self) -> str:
        return f"tuner.Study({self.study.study_name!r}, storage={mask_password(self.storage)!r})"

    @property
    def name(self) -> str:
        """The study's name (study.name)."""
        return self.study.study_name

    @property
    def best_trial(self) -> Any:
        """The best completed trial (an Optuna FrozenTrial): its number, value, params and metrics."""
        return best_trial(self.study)

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's parameters, as Optuna names them."""
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        """The best trial's value of the study's metric (study.metric, e.g. val_mae)."""
        return self.best_trial.value

    @property
    def trials(self) -> pd.DataFrame:
        """Every trial: number, state, value, duration, parameters and validation metrics (Optuna's
        `trials_dataframe`, with the user attributes as `user_attrs_*` columns)."""
        return self.study.trials_dataframe()

    @property
    def baselines(self) -> pd.DataFrame:
        """The baselines' validation metrics, one row each, as `tuner best` lists them."""
        return pd.DataFrame.from_dict(self.study.user_attrs.get("baselines", {}), orient="index").rename_axis("baseline")

    @property
    def warning(self) -> str | None:
        """One line when the best trial is not better than every baseline on the study's metric."""
        return best_warning(self.study)

    def tune(self, n_trials: int | None = None, timeout: float | None = None, workers: int = 1,
             progress: bool = True) -> Study:
        """Add trials with the study's own settings and data, as running `tuner tune` again does;
        this object then reads the added trials too."""
        values = {f"study.{key}": value for key, value in (("n_trials", n_trials), ("timeout", timeout))
                  if value is not None}
        config = config_from(self.config, values)
        from tuner.tuning.runner import tune  # torch: for tuning only

        with scoped(config.train.threads, stop_signals=True):
            result = tune(config, self.storage, workers=workers, progress=progress)
        self.study, self.interrupted = result.study, result.interrupted
        return self

    def best(self, top: int = 5) -> dict[str, Any]:
        """What `tuner best --format json` prints: the `top` trials with their metrics, the baselines."""
        return best_as_data(self.study, mask_password(self.storage), top)

    def export(self, output: str | Path) -> Path:
        """Write the config with the best trial's parameters fixed in [params] (TOML, or JSON for
        .json), as `tuner export`; `tuner fit FILE` and `tuner.fit(FILE)` fit it."""
        from tuner.config.export import config_to_dict, dump_toml

        best = self.best_trial
        exported = replace(self.config, params=best_params(self.study),
                           study=replace(self.config.study, storage=without_password(self.storage)))
        output = Path(output)
        data = config_to_dict(exported, relative_to=output.resolve().parent)
        if output.suffix == ".json":
            text = json.dumps(data, indent=2) + "\n"
        else:
            text = dump_toml(data, header=(
                f"Exported by tuner from trial #{best.number} of study {self.name!r} "
                f"({self.config.study.metric} = {best.value:.6g}).\n`tuner fit` retrains [params] on train + "
                f"validation for params.epochs epochs."
                f"{' The storage password is left out.' if self.storage != without_password(self.storage) else ''}"))
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        return output

    def fit(self, top: int | None = None, from_trial: int | None = None, seeds: int | None = None,
            intervals: bool = True, **sections: Any) -> Model:
        """Fit the forecaster as `tuner fit` does: the best trial's configuration (or the `top` best,
        each a networks candidate: fit.configs) retrained on train + validation with `seeds` seeds
        (default fit.seeds), or, with `from_trial` (-1: the best), the trials' own networks; weighed
        with the other members on backtest windows, and the test part scored once. `sections`
        override the study's settings, e.g. `fit={"members": [...]}`."""
        values = {**sections, **({"fit.configs": top} if top is not None else {})}
        config = config_from(self.config, values) if values else self.config
        from tuner.api.model import fitted

        with tempfile.TemporaryDirectory(prefix="tuner-fit-") as folder:
            chosen, weights = fitted_trials(self.study, config, self.storage, config.fit.configs, from_trial,
                                            Path(folder))
            return fitted(config, chosen, weights, intervals, seeds)

    def report(self, output: str | Path = "report.html", model: Model | str | Path | None = None, top: int = 10) -> Path:
        """Write the study's HTML report (Optuna's plots, best trials, baselines), as `tuner report`;
        with `model` (a Model or its directory), its test forecast too."""
        with tempfile.TemporaryDirectory(prefix="tuner-report-") as folder:
            model_dir = model if model is None or isinstance(model, (str, Path)) else model.path
            if model is not None and model_dir is None:  # the report reads a model directory
                model.forecaster.save(Path(folder))
                model_dir = folder
            with scoped(self.config.train.threads) if model_dir else contextlib.nullcontext():  # torch: the model's only
                page = html_report(self.study, mask_password(self.storage), top,
                                   None if model_dir is None else Path(model_dir))
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(page, encoding="utf-8")
        return output


def tune(df: DataSource = None, config: ConfigSource = None, *, storage: str | None = None,
         n_trials: int | None = None, timeout: float | None = None, workers: int = 1, progress: bool = True,
         allow_changed: bool = False, **sections: Any) -> Study:
    """Run (or resume) a study, as `tuner tune`, on `df` (a DataFrame or a CSV path) with
    `config` (a TOML path, a dict of sections, or None) and `sections` over it, and return it.

    `df`: a pandas DataFrame (one series, or a panel in long format with the `data.series`
    columns; dates in `data.date_column` or the index) or a CSV path; a DataFrame is kept in the
    study's artifact store with its SHA-256, so the study resumes, exports and fits later and in
    other processes without it. `config`: a TOML path, a dict of sections, or None for the defaults;
    `sections` override its keys, e.g. `data={"target": "sales"}, train={"epochs": 5}` or
    `**{"train.epochs": 5}`. `storage`: a SQLAlchemy URL (default: `$TUNER_STORAGE`, then
    study.storage, then SQLite in the current folder, or beside the config file). `n_trials` and
    `timeout` override study.n_trials and study.timeout; `workers` run in processes of their own.
    """
    values = {**sections, **{f"study.{key}": value for key, value in (("n_trials", n_trials), ("timeout", timeout))
                             if value is not None}}
    config = config_from(config, values, df)
    url = resolve_storage_url(config, storage)
    path, written = None, False
    if isinstance(df, pd.DataFrame):
        path, written = frame_file(df, config.data.date_column, snapshot_folder(config, url))
        config = replace(config, data=replace(config.data, path=path))
    from tuner.tuning.runner import tune as run  # torch: for tuning only

    try:
        with scoped(config.train.threads, stop_signals=True), frame_named(path):
            result = run(config, url, workers=workers, progress=progress, allow_changed=allow_changed,
                         snapshot=path is not None)
    except TunerError:
        if written:  # bad data leaves nothing behind
            path.unlink(missing_ok=True)
        raise
    return Study(result.study, config, url, result.interrupted)


def load_study(config: ConfigSource = None, *, study_name: str | None = None, storage: str | None = None,
               **sections: Any) -> Study:
    """An existing study, as `tuner best`, `export` and `fit` read it: named by `config` (a path or
    dict) or `study_name`, in `storage` (as for `tune`), with the settings it was tuned with and,
    for a study tuned from a DataFrame, its data snapshot."""
    values = {**sections, **({"study.name": study_name} if study_name else {})}
    study, config, url = open_for_reading(config_from(config, values), storage, notice=has_data_path(config))
    return Study(study, config, url)

