"""Read a study and describe it: counts, the best trials, their metrics next to the baselines,
and the HTML report with Optuna's plots. Reads the study, never trains; torch is imported only
for the forecast of a fitted model."""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from tuner.cli.tables import (
    calibrated_text,
    interval_levels,
    interval_method,
    metric_cell,
    metrics_table,
    not_better_warning,
    params_text,
    series_table,
)
from tuner.config.names import BASELINES, METRIC_LABELS, MODEL_LABELS, PARAMS, display_name, members_of
from tuner.reports.testnotes import test_notes
from tuner.tuning.study import top_trials

if TYPE_CHECKING:
    import plotly.graph_objects as go



def trial_counts(trials: Iterable[optuna.trial.FrozenTrial]) -> dict[str, int]:
    """Trials by state name ("complete", "pruned", ...), every state listed."""
    counts = {state.name.lower(): 0 for state in TrialState}
    for trial in trials:
        counts[trial.state.name.lower()] += 1
    return counts


def counts_text(study: optuna.Study) -> str:
    """Trials by state, e.g. "16 complete, 4 pruned"; empty for a study without trials."""
    return ", ".join(f"{n} {state}" for state, n in trial_counts(study.get_trials(deepcopy=False)).items() if n)


def baseline_rows(study: optuna.Study) -> dict[str, dict[str, float]]:
    """The study's baselines by display name ("seasonal-naive"), for `metrics_table`."""
    return {display_name(name): metrics for name, metrics in study.user_attrs.get("baselines", {}).items()}


def best_warning(study: optuna.Study) -> str | None:
    """One line when the best trial is not better than every baseline on the study's metric."""
    try:
        best = study.best_trial
    except ValueError:
        return None
    metric = study.user_attrs.get("metric", "val_mae")
    return not_better_warning(f"the best trial (#{best.number})", best.user_attrs.get(metric, best.value),
                              study.user_attrs.get("baselines", {}), metric)


def summary(study: optuna.Study, storage: str) -> str:
    """A few lines for the end of a run: trial counts, the best trial and the baselines."""
    total = len(study.get_trials(deepcopy=False))
    lines = [f"Study {study.study_name!r} in {storage}: {total} trials ({counts_text(study) or 'none yet'})"]
    try:
        best = study.best_trial
    except ValueError:
        lines.append("No completed trial yet.")
        return "\n".join(lines)
    lines += [f"Best trial #{best.number}: {best.params['model']}", f"  {params_text(best.params)}",
              "Validation (in the target's units):"]
    lines += metrics_table({f"trial #{best.number}": best.user_attrs, **baseline_rows(study)})
    return "\n".join(lines + [warning for warning in [best_warning(study)] if warning])


def best_as_data(study: optuna.Study, storage: str, top: int) -> dict[str, Any]:
    """What `tuner best --format json` prints: plain data for scripts."""
    return {
        "study": study.study_name,
        "storage": storage,
        "metric": study.user_attrs.get("metric"),
        "trials": trial_counts(study.get_trials(deepcopy=False)),
        "baselines": study.user_attrs.get("baselines", {}),
        "warning": best_warning(study),
        "best": [
            {"number": t.number, "value": t.value, "params": t.params,
             "metrics": {k: v for k, v in t.user_attrs.items() if k.startswith("val_")},
             **{k: t.user_attrs.get(k) for k in ("best_epoch", "epochs_run", "n_params", "train_seconds")}}
            for t in top_trials(study, top)
        ],
    }


def best_table(study: optuna.Study, storage: str, top: int) -> str:
    """What `tuner best` prints: the best trials' metrics and parameters, then the baselines."""
    lines = [f"Study {study.study_name!r} in {storage} ({counts_text(study) or 'no trials'})"]
    trials = top_trials(study, top)
    if not trials:
        return "\n".join(lines + ["No completed trial yet."])
    rows = {**{f"trial #{t.number}": t.user_attrs for t in trials}, **baseline_rows(study)}
    lines += ["Validation (in the target's units):", *metrics_table(rows), "Parameters:"]
    for t in trials:
        lines.append(f"  trial #{t.number}: {params_text(t.params)}  best_epoch={t.user_attrs.get('best_epoch')}")
    metric = study.user_attrs.get("metric", "val_mae")
    for key, title in ((f"{metric}_folds", "by walk-forward fold, earliest first"),
                       (f"{metric}_by_step", "by forecast step")):
        listed = {f"trial #{t.number}": t.user_attrs[key] for t in trials if key in t.user_attrs}
        if listed:
            lines += [f"{metric} {title}:", *series_table(listed)]
    return "\n".join(lines + [warning for warning in [best_warning(study)] if warning])


# ---- the HTML report ----

PLOT_HEIGHT = 440
PLOT_CONFIG = {"displaylogo": False, "responsive": True}

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1rem 2rem; color: #222; }
nav a { margin-right: 1rem; }
section { margin: 2rem 0; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: right; }
th:first-child, td:first-child, table.facts td, table.trials :is(th, td):last-child { text-align: left; }
tr.baseline td { color: #666; font-style: italic; }
.note, .empty { color: #666; }
.warning { color: #a40000; font-weight: bold; }
</style>
<script>$plotlyjs</script>
</head>
<body>
<h1>$title</h1>
<p class="note">Written by tuner on $written. Validation metrics are in the target's units (percentages for MAPE,
sMAPE and WAPE).</p>
<nav>$nav</nav>
$sections
</body>
</html>
""")


@dataclass(frozen=True)
class Section:
    anchor: str  # the section's HTML id
    title: str
    body: str  # HTML


def html_report(study: optuna.Study, storage: str, top: int = 10, model_dir: Path | None = None) -> str:
    """The report as one self-contained HTML page: plotly.js is inlined once, nothing is fetched.

    `storage` is shown as given (mask its password first); `model_dir`, a directory written by
    `tuner fit`, adds its forecast on the test part (this loads torch).
    """
    from plotly.offline import get_plotlyjs

    sections = [summary_section(study, storage), best_section(study, top), *plot_sections(study),
                models_section(study)]
    if model_dir is not None:
        sections.append(forecast_section(model_dir))
    return PAGE.substitute(
        title=escape(f"Study {study.study_name!r}"),
        written=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        plotlyjs=get_plotlyjs(),
        nav="".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections),
        sections="\n".join(f'<section id="{s.anchor}">\n<h2>{escape(s.title)}</h2>\n{s.body}\n</section>'
                           for s in sections),
    )


def html_table(header: list[str], rows: list[list[str]], classes: list[str] | None = None, kind: str = "") -> str:
    """A table of already-escaped cells; `classes` names a CSS class per row, `kind` the table's."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join(f'<tr class="{cls}">' + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row, cls in zip(rows, classes or [""] * len(rows)))
    return f'<table class="{kind}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def chart(fig: go.Figure) -> str:
    fig.update_layout(height=PLOT_HEIGHT)
    return fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG)


def duration(seconds: float) -> str:
    """Seconds as '8.4 s', '3 min 12 s' or '2 h 05 min'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def summary_section(study: optuna.Study, storage: str) -> Section:
    """Trial counts by state, when the study ran and for how long, and where it is stored."""
    trials = study.get_trials(deepcopy=False)
    counts = counts_text(study) or "none"
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    busy = sum(t.duration.total_seconds() for t in trials if t.duration)
    rows = [["Storage", escape(storage)],
            ["Objective", escape(f"{study.user_attrs.get('metric', 'value')}, {study.direction.name.lower()}d")],
            ["Trials", escape(f"{len(trials)} ({counts})")]]
    if starts and ends:
        wall = (max(ends) - min(starts)).total_seconds()
        rows += [["Ran", f"{min(starts):%Y-%m-%d %H:%M} to {max(ends):%Y-%m-%d %H:%M}"],
                 ["Total time", escape(f"{duration(wall)} from first start to last finish; "
                                       f"{duration(busy)} summed over trials")]]
    return Section("summary", "Study summary", html_table(["", escape(study.study_name)], rows, kind="facts"))


def best_section(study: optuna.Study, top: int) -> Section:
    """The best completed trials with every validation metric and their parameters, then the baselines."""
    objective = study.user_attrs.get("metric", "")
    metrics = [f"val_{m}" for m in METRIC_LABELS]
    header = ["", "model", *(f"<b>{label}</b>" if key == objective else label
                             for key, label in zip(metrics, METRIC_LABELS.values())), "best epoch", "parameters"]
    rows, classes = [], []
    for trial in top_trials(study, top):
        params = params_text(trial.params, PARAMS[1:])
        rows.append([f"trial #{trial.number}", MODEL_LABELS.get(trial.params.get("model"), "?"),
                     *(metric_cell(trial.user_attrs.get(key)) for key in metrics),
                     escape(str(trial.user_attrs.get("best_epoch", ""))), escape(params)])
        classes.append("")
    if not rows:
        return Section("best", "Best trials", '<p class="empty">No completed trial yet.</p>')
    for name, values in baseline_rows(study).items():
        rows.append([escape(name), "baseline", *(metric_cell(values.get(k)) for k in metrics), "", ""])
        classes.append("baseline")
    warning = best_warning(study)
    note = f'<p class="warning">{escape(warning)}</p>' if warning else ""
    return Section("best", "Best trials", html_table(header, rows, classes, kind="trials") + note)


def plot_sections(study: optuna.Study) -> list[Section]:
    """Optuna's own plots, each replaced by a one-line note while the study has too few trials."""
    import optuna.visualization as vis

    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    distinct = {tuple(sorted(t.params.items())) for t in completed}
    curves = any(t.intermediate_values for t in study.get_trials(deepcopy=False))
    one = None if completed else "Needs a completed trial."
    return [
        plot_section("history", "Optimization history", lambda: vis.plot_optimization_history(study), one),
        plot_section("importances", f"Parameter importances (from {len(completed)} completed trials)",
                     lambda: importances(study),
                     None if len(distinct) >= 2 else "Needs two completed trials with different parameters."),
        plot_section("curves", "Intermediate values (learning curves; pruned trials stop early)",
                     lambda: vis.plot_intermediate_values(study), None if curves else "No trial has reported an epoch yet."),
        plot_section("parallel", "Parallel coordinates", lambda: vis.plot_parallel_coordinate(study), one),
    ]


def importances(study: optuna.Study) -> go.Figure:
    """Optuna's importance plot, without its warnings that few trials make rough estimates
    (the section title gives the number of trials)."""
    import optuna.visualization as vis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return vis.plot_param_importances(study)


def plot_section(anchor: str, title: str, make: Callable[[], go.Figure], missing: str | None) -> Section:
    body = f'<p class="empty">{escape(missing)}</p>' if missing else chart(make())
    return Section(anchor, title, body)


def models_section(study: optuna.Study) -> Section:
    """LSTM vs LSTM+Transformer: trials, best and median validation MAE per model type, and every
    completed trial's validation MAE by model type (Optuna's slice plot)."""
    import optuna.visualization as vis

    by_model: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for trial in study.get_trials(deepcopy=False):
        by_model.setdefault(trial.params.get("model", "?"), []).append(trial)
    rows = [model_row(name, trials) for name, trials in sorted(by_model.items())]
    header = ["model", "complete", "pruned", "failed", "best trial", "best val MAE", "median val MAE"]
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return Section("models", "LSTM vs LSTM+Transformer", html_table(header, rows))
    fig = vis.plot_slice(study, params=["model"], target=lambda t: t.user_attrs.get("val_mae", math.nan),
                         target_name="validation MAE")
    return Section("models", "LSTM vs LSTM+Transformer", html_table(header, rows) + chart(fig))


def model_row(name: str, trials: list[optuna.trial.FrozenTrial]) -> list[str]:
    states = [t.state for t in trials]
    scored = [(t.user_attrs["val_mae"], t.number) for t in trials
              if t.state == TrialState.COMPLETE and "val_mae" in t.user_attrs]
    best = min(scored) if scored else None
    return [escape(MODEL_LABELS.get(name, name)), *(str(states.count(s)) for s in
                                                   (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)),
            f"#{best[1]}" if best else "", metric_cell(best[0] if best else None),
            metric_cell(statistics.median(v for v, _ in scored) if scored else None)]


def forecast_section(model_dir: Path) -> Section:
    """A fitted model's forecast vs the actual test values, with the baselines and the test metrics."""
    from tuner.ensemble.forecaster import Forecaster  # imports torch
    from tuner.reports.plots import figure, lines_on_test_part, title_on_test_part

    forecaster = Forecaster.load(model_dir)
    test = forecaster.test_forecast()
    data, model = forecaster.config.data, forecaster.label
    fig = figure(lines_on_test_part(test), title_on_test_part(data, model), data.target)
    members = members_of(forecaster.metrics)
    names = {"model": escape(f"{MODEL_LABELS.get(model, model)} ({model_dir})"),
             **{name: f"{display_name(name)} (weight {forecaster.weights.get(name, 0):.2g})" for name in members}}
    rows = [[label, *(metric_cell(forecaster.metrics.get(key, {}).get(f"test_{m}")) for m in METRIC_LABELS)]
            for key, label in names.items()]
    table = html_table(["test part", *METRIC_LABELS.values()], rows,
                       ["", *("baseline" if name in BASELINES else "" for name in members)])
    note = "".join(f'<p class="warning">{escape(line)}</p>' for line in test_notes(forecaster))
    return Section("forecast", "Forecast vs actual (test part)", table + note + intervals_html(forecaster.metrics)
                   + worst_series_html(forecaster) + chart(fig))


WORST_SERIES = 10


def worst_series_html(forecaster: Any) -> str:
    """A panel model's series where it does worst against seasonal-naive (test MAE ratio)."""
    per_series = forecaster.series_metrics
    if per_series is None:
        return ""
    columns = list(forecaster.config.data.series)
    rows = [[escape(", ".join(str(row[c]) for c in columns)), metric_cell(row["model_mae"]),
             metric_cell(row["seasonal_naive_mae"]), f"{row['vs_seasonal_naive']:.2f}", metric_cell(row["model_wape"])]
            for _, row in per_series.head(WORST_SERIES).iterrows()]
    worse = int((per_series["vs_seasonal_naive"] > 1).sum())
    return (f"<h3>The {min(WORST_SERIES, len(per_series))} series where the model does worst against seasonal-naive</h3>"
            + html_table([escape(", ".join(columns)), "model MAE", "seasonal-naive MAE", "ratio", "model WAPE %"], rows)
            + f"<p>The model is worse than seasonal-naive on {worse} of {len(per_series)} series "
              "(all series: series_metrics.csv in the model directory).</p>")


def intervals_html(metrics: dict[str, Any]) -> str:
    """The prediction intervals' test coverage and mean width per level, or a note that the model has none."""
    intervals = metrics.get("intervals")
    if not intervals:
        return "<p>This model has no prediction intervals (fitted with --no-intervals, or before they existed); fit it again to get them.</p>"
    rows = [[f"{level} %", f"{scores['coverage']:.1f} %", calibrated_text(level, scores), metric_cell(scores["width"])]
            for level, scores in interval_levels(intervals).items()]
    source = escape(f"Intervals: {interval_method(intervals)}. A calibrated interval's coverage falls inside the range "
                    "beside it about 95 % of the time on this many test samples.")
    return html_table(["interval", "test coverage", "calibrated range", "mean width"], rows) + f"<p>{source}</p>"

