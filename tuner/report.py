"""Read a study and describe it: counts, the best trials, their metrics next to the baselines."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState

METRIC_COLUMNS = ("mae", "rmse", "mape")
PARAM_ORDER = ("model", "hidden_size", "num_layers", "dropout", "lr", "num_heads", "ff_size")


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def trial_counts(study: optuna.Study) -> dict[str, int]:
    counts = {state.name.lower(): 0 for state in TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] += 1
    return counts


def metrics_table(rows: dict[str, dict[str, float]], prefix: str = "val_") -> list[str]:
    """Aligned lines: one row per forecaster, columns MAE, RMSE, MAPE (keys `prefix` + name)."""
    width = max(len(name) for name in rows)
    lines = [f"  {'':<{width}}  {'MAE':>10}  {'RMSE':>10}  {'MAPE':>8}"]
    for name, metrics in rows.items():
        mae, rmse, mape = (metrics.get(f"{prefix}{m}", float("nan")) for m in METRIC_COLUMNS)
        lines.append(f"  {name:<{width}}  {mae:>10.2f}  {rmse:>10.2f}  {mape:>7.2f}%")
    return lines


def summary(study: optuna.Study, storage: str) -> str:
    """A few lines for the end of a run: trial counts, the best trial and the baselines."""
    counts = trial_counts(study)
    states = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    lines = [f"Study {study.study_name!r} in {storage}: {sum(counts.values())} trials ({states or 'none yet'})"]
    try:
        best = study.best_trial
    except ValueError:
        lines.append("No completed trial yet.")
        return "\n".join(lines)
    params = "  ".join(f"{k}={format_value(best.params[k])}" for k in PARAM_ORDER if k in best.params)
    lines += [f"Best trial #{best.number}: {best.params['model']}", f"  {params}",
              "Validation (in the target's units):"]
    rows = {f"trial #{best.number}": best.user_attrs}
    for name, metrics in study.user_attrs.get("baselines", {}).items():
        rows[name.replace("_", "-")] = metrics
    lines += metrics_table(rows)
    return "\n".join(lines)


def top_trials(study: optuna.Study, top: int) -> list[optuna.trial.FrozenTrial]:
    """The `top` best completed trials, best first."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
    return sorted(completed, key=lambda t: sign * t.value)[:top]


def best_as_data(study: optuna.Study, storage: str, top: int) -> dict[str, Any]:
    """What `tuner best --format json` prints: plain data for scripts."""
    return {
        "study": study.study_name,
        "storage": storage,
        "metric": study.user_attrs.get("metric"),
        "trials": trial_counts(study),
        "baselines": study.user_attrs.get("baselines", {}),
        "best": [
            {"number": t.number, "value": t.value, "params": t.params,
             "metrics": {k: v for k, v in t.user_attrs.items() if k.startswith("val_")},
             **{k: t.user_attrs.get(k) for k in ("best_epoch", "epochs_run", "n_params", "train_seconds")}}
            for t in top_trials(study, top)
        ],
    }


def best_table(study: optuna.Study, storage: str, top: int) -> str:
    """What `tuner best` prints: the best trials' metrics and parameters, then the baselines."""
    counts = ", ".join(f"{n} {state}" for state, n in trial_counts(study).items() if n)
    lines = [f"Study {study.study_name!r} in {storage} ({counts or 'no trials'})"]
    trials = top_trials(study, top)
    if not trials:
        return "\n".join(lines + ["No completed trial yet."])
    rows = {f"trial #{t.number}": t.user_attrs for t in trials}
    for name, metrics in study.user_attrs.get("baselines", {}).items():
        rows[name.replace("_", "-")] = metrics
    lines += ["Validation (in the target's units):", *metrics_table(rows), "Parameters:"]
    for t in trials:
        params = "  ".join(f"{k}={format_value(t.params[k])}" for k in PARAM_ORDER if k in t.params)
        lines.append(f"  trial #{t.number}: {params}  best_epoch={t.user_attrs.get('best_epoch')}")
    return "\n".join(lines)
