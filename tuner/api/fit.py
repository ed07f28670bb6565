"""`tuner.fit`: a forecaster fitted from a config with [params] fixed (as `tuner export` writes it),
or from a study's trials (`Study.fit`), as `tuner fit` does. A config's fit never loads Optuna."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from tuner.api.inputs import ConfigSource, DataSource, config_from, frame_named
from tuner.api.model import Model, fitted
from tuner.config.schema import Config
from tuner.data.frames import frame_file
from tuner.errors import ConfigError


def fit(source: ConfigSource | Any, *, df: DataSource = None, storage: str | None = None, top: int | None = None,
        from_trial: int | None = None, seeds: int | None = None, intervals: bool = True, **sections: Any) -> Model:
    """Fit the forecaster `tuner fit` would, and score its test part once.

    `source`: a `tuner.Study` (then as `Study.fit`), or a config (a path, a dict of sections) with
    [params] fixed, which is fitted as it is; a config without [params] names a study in
    `storage`, whose best trials are fitted. `df`: a DataFrame or CSV path instead of data.path.
    `top`, `from_trial`, `seeds`, `intervals` and `sections` as for `Study.fit`."""
    if not isinstance(source, (str, Path, Mapping, Config)):
        from tuner.api.study import Study

        if not isinstance(source, Study):
            raise ConfigError(f"fit({type(source).__name__}): expected a tuner.Study, a config path or a dict of sections")
        return source.fit(top=top, from_trial=from_trial, seeds=seeds, intervals=intervals, **sections)
    config = config_from(source, sections, df)
    if not config.params.model or (top or config.fit.configs) > 1 or from_trial is not None:
        from tuner.api.study import load_study

        return load_study(config, storage=storage).fit(top=top, from_trial=from_trial, seeds=seeds, intervals=intervals)
    path = None
    if df is not None and not isinstance(df, (str, Path)):  # kept beside the config, as the model reads it again
        path, _ = frame_file(df, config.data.date_column, config.source.parent.resolve() / f"{config.study.name}-data")
        config = replace(config, data=replace(config.data, path=path))
    with frame_named(path):
        return fitted(config, [config.params], None, intervals, seeds)
