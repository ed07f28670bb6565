"""Figure 13: prediction intervals' coverage on the test part, after `tuner fit`.

For each case (the demo studies, and the real series of figure 12 with their calendar inputs):
tune `budget.interval_trials` trials, fit the best one the default way, and score the 80 % and
95 % intervals on the test part: coverage per forecast step (target: within 3 points of the
level on average over steps) and mean width. Beside them, on the same test samples:

* seasonal-naive's own conformal intervals (its residuals on the same validation parts, adapted
  over its test residuals as the model's are): narrower at the same coverage is better;
* the same fitted forecast and calibration residuals without adapting them over the test part
  (plain split-conformal, the default before adaptive conformal inference);
* the same fitted forecast with two other calibrations, adapted the same way: the best trial's own
  network (trained on the train part) on the validation part, and the refitted model's in-sample
  residuals on the validation part it trained on (the choice that looks natural and under-covers);
* the best trial's parameters fitted again with `train.loss = "quantile"` (`QUANTILES`): its own
  quantile intervals' coverage and width, and its median's test MAE beside the MAE model's.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO, Budget, Figure, figure, skipped
from realdata import SERIES, available
from recipes import CALENDAR

from tuner.config.loading import load_config
from tuner.config.schema import Config
from tuner.data.dataset import Dataset
from tuner.data.reading import load_frame
from tuner.ensemble.forecaster import Forecaster
from tuner.evaluation.intervals import Calibration, interval_metrics, level_name
from tuner.tuning.runner import tune
from tuner.tuning.study import best_params, fitted_trials

LEVELS = (80.0, 95.0)
QUANTILES = (0.025, 0.1, 0.5, 0.9, 0.975)  # bound the 80 % and 95 % intervals
TOLERANCE = 3.0  # points of coverage either side of the level
DEMO_STUDIES = {"demo daily": "ecommerce_daily.toml", "demo weekly plan": "ecommerce_weekly_plan.toml"}


def case_config(name: str, budget: Budget, folder: Path, seed: int | None = None) -> Config:
    """The study config of one case, sized by `budget`; `seed`: its study.seed (default: the
    config's own)."""
    sizing = [f"study.n_trials={budget.interval_trials}", f"train.threads={budget.threads}",
              f"study.name=intervals-{name.replace(' ', '-')}", f"study.storage='sqlite:///{folder / 'study.db'}'",
              *([] if seed is None else [f"study.seed={seed}"])]
    if name in DEMO_STUDIES:
        return load_config(REPO / "studies" / DEMO_STUDIES[name], [*sizing, f"train.epochs={budget.interval_epochs}"])
    series = SERIES[name]
    toml = folder / f"{name}.toml"
    toml.write_text(series.write(folder, budget.interval_epochs, budget.interval_trials, budget.threads),
                    encoding="utf-8")
    return load_config(toml, [*sizing, f"data.calendar={CALENDAR[series.frequency]}"])


def seasonal_naive_calibration(config: Config) -> Calibration:
    """Seasonal-naive's residuals on the validation part of every walk-forward fold."""
    folds = Dataset.folds(load_frame(config.data), config.data, config.split)
    return Calibration(np.concatenate([fold.actuals("validation") - fold.baseline_forecasts("validation")["seasonal_naive"]
                                       for fold in folds]), "seasonal-naive on the validation parts")


def measure(name: str, budget: Budget, folder: Path, seed: int | None = None) -> dict[str, Any]:
    """Tune, fit, and score every calibration's intervals on the same test samples."""
    config = case_config(name, budget, folder, seed)
    url = config.study.storage
    study = tune(config, url, progress=False).study
    fitted, test = Forecaster.fit(config, best_params(study), seeds=budget.refit_seeds)
    actual, dataset = test.dataset.actuals("test"), test.dataset
    realized = actual - test.forecast
    members, weights = fitted_trials(study, config, url, 1, -1, folder)
    own_weights = Forecaster.fit(config, members, trial_weights=weights)[0].calibration.adapted(realized)
    in_sample = Calibration(dataset.actuals("validation") - fitted.forecast_part(dataset, "validation"),
                            "the refitted model on the validation part it trained on").adapted(realized)
    snaive = test.baselines["seasonal_naive"]
    result = {
        "model": fitted.metrics["intervals"],
        "split-conformal": interval_metrics(actual, test.forecast, replace(fitted.calibration, realized=None), LEVELS),
        "own weights": interval_metrics(actual, test.forecast, own_weights, LEVELS),
        "in-sample": interval_metrics(actual, test.forecast, in_sample, LEVELS),
        "seasonal-naive": interval_metrics(actual, snaive, seasonal_naive_calibration(config).adapted(actual - snaive),
                                           LEVELS),
        "test_samples": len(actual), "horizon": config.data.horizon,
        "test_mae": fitted.metrics["model"]["test_mae"],
    }
    quantile_config = replace(config, train=replace(config.train, loss="quantile", quantiles=QUANTILES))
    quantile_model = Forecaster.fit(quantile_config, best_params(study), seeds=budget.refit_seeds)[0]
    result["quantile"] = quantile_model.metrics["intervals"]
    result["quantile_test_mae"] = quantile_model.metrics["model"]["test_mae"]
    return result


def figures_of(name: str, result: dict[str, Any]) -> list[Figure]:
    out = []
    for level in LEVELS:
        key = level_name(level)
        model, snaive = result["model"][key], result["seasonal-naive"][key]
        by_step = model["by_step"]["coverage"]
        steps = "" if len(by_step) == 1 else "; by step " + ", ".join(f"{c:.0f}" for c in by_step)
        note = (f"mean width {model['width']:.4g} vs seasonal-naive's {snaive['width']:.4g} "
                f"({model['width'] / snaive['width']:.2f}×) at its coverage {snaive['coverage']:.1f} %; "
                f"not adapted (split-conformal): {result['split-conformal'][key]['coverage']:.1f} %, width "
                f"{result['split-conformal'][key]['width']:.4g}; "
                f"the same forecast calibrated on the trial's own weights: {result['own weights'][key]['coverage']:.1f} %, "
                f"on in-sample residuals: {result['in-sample'][key]['coverage']:.1f} %; "
                f"{result['test_samples']} test samples × {result['horizon']} step(s), "
                f"{result['model']['calibration_samples']} calibration residuals{steps}; trained on quantiles "
                f"instead: coverage {result['quantile'][key]['coverage']:.1f} %, width "
                f"{result['quantile'][key]['width']:.4g}, median's test MAE {result['quantile_test_mae']:.4g} vs "
                f"{result['test_mae']:.4g}")
        out.append(figure(f"13. {name} test coverage of the {key} % interval", [float(np.mean(by_step))], "%",
                          f"nominal {key} %", target=f"within {TOLERANCE:g} points of {key}",
                          check=lambda v, level=level: abs(v - level) <= TOLERANCE, note=note,
                          details=level_details(result, key)))
    return out


def level_details(result: dict[str, Any], key: str) -> dict[str, Any]:
    """`result` with only level `key`'s scores of each calibration."""
    return {name: ({k: v for k, v in value.items() if not isinstance(v, dict) or k == key}
                   if isinstance(value, dict) else value) for name, value in result.items()}


def interval_coverage(budget: Budget, workdir: Path) -> list[Figure]:
    """Figure 13 for every case of `budget.interval_cases`."""
    figures: list[Figure] = []
    reason = available()
    for name in budget.interval_cases:
        if name not in DEMO_STUDIES and reason:
            figures.append(skipped(f"13. {name} test coverage of the intervals", "%", "nominal level", reason))
            continue
        with tempfile.TemporaryDirectory(prefix="intervals-", dir=workdir) as folder:
            figures += figures_of(name, measure(name, budget, Path(folder)))
    return figures
