"""What each `tuner` command does, a handler per command (`tuner.cli.parser` parses the command line
and maps errors to an exit status). Heavy modules are imported inside the handlers, after the
config is read, so a bad config or flag fails fast."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import typing
from dataclasses import replace
from pathlib import Path

from tuner.config.loading import load_config
from tuner.config.names import display_name, members_of
from tuner.config.schema import Config, ParamsConfig
from tuner.errors import EXIT_INTERRUPTED

if typing.TYPE_CHECKING:
    from tuner.ensemble.forecaster import Forecaster

log = logging.getLogger("tuner")


WEIGHT_FLAGS = {"boosting_weight": "boosting", "linear_weight": "linear", "ets_weight": "ets"}  # flag -> member


def load(args: argparse.Namespace) -> Config:
    """The config file with `--set` overrides, then the dedicated flags on top (`tuner fit`'s
    --boosting-weight, --linear-weight and --ets-weight as fit.weights; "auto" drops a fixed share)."""
    flags = {"n_trials": "study.n_trials", "timeout": "study.timeout", "study": "study.name", "devices": "train.devices",
             "seeds": "fit.seeds", "combine": "fit.combine", "ensemble": "fit.configs"}
    values = {key: getattr(args, flag) for flag, key in flags.items() if getattr(args, flag, None) is not None}
    weights = {member: getattr(args, flag) for flag, member in WEIGHT_FLAGS.items() if getattr(args, flag, None) is not None}
    values |= {f"fit.weights.{member}": weight for member, weight in weights.items() if weight != "auto"}
    config = load_config(args.config, args.set, values)
    automatic = [member for member, weight in weights.items() if weight == "auto"]
    if automatic:
        kept = {member: weight for member, weight in config.fit.weights.items() if member not in automatic}
        config = replace(config, fit=replace(config.fit, weights=kept))
    return config


def open_existing(args: argparse.Namespace, config: Config) -> tuple:
    """(the study, which must exist; the config with the settings it was tuned with; the storage URL)."""
    from tuner.tuning import configure_optuna_logging
    from tuner.tuning.study import open_for_reading

    configure_optuna_logging(args.verbose)
    return open_for_reading(config, args.storage)


def cmd_tune(args: argparse.Namespace) -> int:
    """Run trials of the configured study (creating it, or resuming it), then print the best."""
    config = load(args)  # a bad config fails before the heavy imports

    from tuner.api.study import tune
    from tuner.tuning import configure_optuna_logging
    from tuner.tuning.report import summary
    from tuner.tuning.storage import mask_password, resolve_storage_url

    configure_optuna_logging(args.verbose)
    if args.workers == 1:
        from tuner.networks.threads import configure_threads

        configure_threads(config.train.threads)  # more workers: each sets its own
    url = resolve_storage_url(config, args.storage)
    log.info("study %r in %s", config.study.name, mask_password(url))
    study = tune(config=config, storage=url, workers=args.workers, progress=not args.no_progress,
                 allow_changed=args.allow_changed)
    print(summary(study.study, mask_password(url)))
    if study.interrupted:
        print("Interrupted: completed trials are kept; run the same command to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve optuna-dashboard on the study's storage (no authentication: keep it on 127.0.0.1)."""
    config = load(args)  # a bad config fails before the heavy imports

    from tuner.tuning import configure_optuna_logging
    from tuner.tuning.dashboard import serve_dashboard
    from tuner.tuning.storage import mask_password, open_artifact_store, open_storage, resolve_storage_url

    configure_optuna_logging(args.verbose)
    url = resolve_storage_url(config, args.storage)
    storage = open_storage(url)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s: optuna-dashboard has no authentication, so anyone who reaches this port "
                    "can read and delete studies; prefer an SSH tunnel to 127.0.0.1", args.host)
    host = f"[{args.host}]" if ":" in args.host else args.host
    page = f"http://{host}:{args.port}/dashboard/"
    try:
        page += f"studies/{storage.get_study_id_from_name(config.study.name)}"
    except KeyError:
        log.warning("no study %r in %s yet; the dashboard shows it once `tuner tune` starts",
                    config.study.name, mask_password(url))
    print(f"Dashboard for study {config.study.name!r} ({mask_password(url)}): {page}", flush=True)
    serve_dashboard(storage, args.host, args.port, open_artifact_store(config, url))
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    """Show the best trials with their parameters, validation metrics and the baselines."""
    config = load(args)  # a bad config fails before the heavy imports

    from tuner.tuning.report import best_as_data, best_table
    from tuner.tuning.storage import mask_password
    from tuner.tuning.study import top_trials

    study, config, url = open_existing(args, config)
    ranking = None
    if args.reseed:
        from tuner.networks.threads import configure_threads
        from tuner.tuning import reseed

        configure_threads(config.train.threads)
        ranking = reseed.reseed(config, top_trials(study, args.top), args.reseed)
    if args.format == "json":
        data = best_as_data(study, mask_password(url), args.top)
        if ranking is not None:
            data["reseed"] = {"seeds": args.reseed, "ranking": reseed.reseed_data(ranking)}
        print(json.dumps(data, indent=2))
    else:
        print(best_table(study, mask_password(url), args.top))
        if ranking is not None:
            print(reseed.reseed_table(ranking, config.study.metric, args.reseed))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a complete config with the best trial's parameters fixed in [params] (TOML, or JSON for .json)."""
    config = load(args)  # a bad config fails before the heavy imports

    from tuner.api.study import load_study
    from tuner.tuning import configure_optuna_logging
    from tuner.tuning.storage import mask_password

    configure_optuna_logging(args.verbose)
    study = load_study(config, storage=args.storage)
    output = study.export(args.output)
    best = study.best_trial
    print(f"Wrote {output}: trial #{best.number}, {study.config.study.metric} = {best.value:.6g} "
          f"(storage {mask_password(study.storage)})")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    """Retrain the chosen configuration on train + validation (or take a trial's own weights, or
    combine the best trials), test it once, save a model directory."""
    config = load(args)  # a bad config fails before the heavy imports

    from tuner.api.fit import fit
    from tuner.networks.threads import configure_threads

    if not config.params.model or config.fit.configs > 1 or args.from_trial is not None:
        from tuner.tuning import configure_optuna_logging

        configure_optuna_logging(args.verbose)
    configure_threads(config.train.threads)
    model = fit(config, storage=args.storage, from_trial=args.from_trial, seeds=args.seeds,
                intervals=not args.no_intervals)
    model.save(args.output)
    print("\n".join(fit_summary(model.forecaster, model.trials, model.own_weights, args.output)))
    if args.plot:
        from tuner.reports.plots import lines_on_test_part, title_on_test_part, write_png

        lines = lines_on_test_part(model.test_forecast)
        write_png(lines, title_on_test_part(model.config.data, model.forecaster.label), model.config.data.target,
                  Path(args.plot))
        print(f"Wrote {args.plot}", file=sys.stderr)
    return 0


def fit_summary(forecaster: Forecaster, chosen: list[ParamsConfig], own_weights: bool, output: str) -> list[str]:
    """What `tuner fit` prints: what was fitted and how the ensemble was chosen, the table of
    members (backtest score, weight, test metrics), the warnings and notes, the intervals' test
    coverage and the errors by forecast step."""
    from tuner.cli.tables import ensemble_table, intervals_lines, series_table
    from tuner.ensemble.forecaster import selection_metric
    from tuner.reports.testnotes import test_notes

    config = forecaster.config
    what = ", ".join(p.model if own_weights else f"{p.model} ({p.epochs} epochs)" for p in chosen)
    how = "from the trials' own weights (trained on train)" if own_weights else "on train + validation"
    combine = forecaster.networks.combine
    combined = ("" if len(chosen) == 1 else f", {combine} of {len(chosen)}" if forecaster.quantiles
                else f", each a networks candidate (fit.configs = {len(chosen)})")
    if forecaster.seeds > 1:
        combined += f", {combine} of {forecaster.seeds} seeds{' each' if len(chosen) > 1 else ''} (--seeds)"
    metric = selection_metric(config)
    fixed = ", ".join(f"{name} {weight:g}" for name, weight in config.fit.weights.items())
    if forecaster.backtest:
        windows = config.fit.backtest_windows
        weighed = (f"members weighed by greedy ensemble selection on {metric} over {windows} backtest "
                   f"window{'s' if windows > 1 else ''} ({config.fit.rounds} rounds){f'; fixed: {fixed}' if fixed else ''}")
    else:
        weighed = (" + ".join(display_name(name) for name in forecaster.weights) + " alone"
                   + (" (a quantile model's quantiles are its networks' own)" if forecaster.quantiles else ""))
    lines = [f"Fitted {what} {how}{combined}; {weighed}; saved to {output}",
             (f"Members: {metric} on the backtest windows, weight, and test metrics (in the target's units, the test "
              "part never seen while tuning or weighing):"),
             *ensemble_table(forecaster.metrics, forecaster.weights, forecaster.backtest, metric)]
    key = metric.replace("val_", "test_", 1)
    scored = {name: forecaster.metrics[name][key] for name in members_of(forecaster.metrics)}
    if scored:
        best = min(scored, key=scored.get)
        lines.append(f"Best single member on the test part: {display_name(best)} ({key} {scored[best]:.4g}; the ensemble "
                     f"{forecaster.metrics['model'][key]:.4g})")
    lines += test_notes(forecaster)
    if forecaster.series_metrics is not None:
        per_series = forecaster.series_metrics
        worse = int((per_series["vs_seasonal_naive"] > 1).sum())
        lines.append(f"Pooled over {len(per_series)} series; per series in {Path(output) / 'series_metrics.csv'} "
                     f"(the model's test MAE is above seasonal-naive's on {worse} of them)")
    if "intervals" in forecaster.metrics:
        lines += intervals_lines(forecaster.metrics["intervals"])
    if "by_step" in forecaster.metrics:
        steps = {display_name(name): errors["test_mae"] for name, errors in forecaster.metrics["by_step"].items()}
        lines += ["Test MAE by forecast step:", *series_table(steps)]
    return lines


def check_intervals(forecaster: Forecaster, model: str, levels: list[float], per_date: bool = True) -> None:
    """`Forecaster.interval_warnings` with the model directory named in its error."""
    from tuner.errors import ModelDirError

    try:
        warnings = forecaster.interval_warnings(levels, per_date)
    except ModelDirError as exc:
        raise ModelDirError(f"{model}: {exc}") from None
    for warning in warnings:
        print(warning, file=sys.stderr)


def cmd_predict(args: argparse.Namespace) -> int:
    """Forecast the next `horizon` dates after the last row of DATA with a fitted model."""
    from tuner.data.series import parse_filter
    from tuner.ensemble.forecaster import Forecaster
    from tuner.errors import DataError
    from tuner.evaluation.intervals import parse_levels
    from tuner.networks.threads import configure_threads

    levels = parse_levels(args.intervals)  # bad levels fail before the model is read
    forecaster = Forecaster.load(Path(args.model))
    configure_threads(forecaster.config.train.threads)
    check_intervals(forecaster, args.model, levels)
    chosen = parse_filter(args.series, forecaster.config.data.series) if args.series else None
    inputs = forecaster.read_inputs(Path(args.data), chosen)  # the file is read once, for the plot too
    result = forecaster.forecast_inputs(inputs, levels)
    data = forecaster.config.data
    if args.plot and data.series and len(result) > data.horizon:
        raise DataError(f"--plot {args.plot}: the forecast holds {len(result) // data.horizon} series; "
                        "plot one, chosen with --series")
    if args.output:
        result.to_csv(args.output, index=False)
        print(f"Wrote {len(result)} forecast row(s) to {args.output}", file=sys.stderr)
    else:
        print(result.to_csv(index=False), end="")
    if args.plot:
        from tuner.reports.plots import prediction_bands, prediction_lines, write_png

        lines = prediction_lines(data, inputs[0], result)
        write_png(lines, f"{data.target}: history and forecast", data.target, Path(args.plot),
                  prediction_bands(data, result, levels, lines))
        print(f"Wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_whatif(args: argparse.Namespace) -> int:
    """Forecast sales under scenarios of the known-future inputs (e.g. ad budgets) and the ROAS they imply."""
    from tuner.data.series import parse_filter
    from tuner.ensemble.forecaster import Forecaster
    from tuner.evaluation.intervals import parse_levels
    from tuner.networks.threads import configure_threads
    from tuner.reports import whatif

    column, factors = whatif.parse_scale(args.scale)
    fixed = whatif.parse_fixed(args.set)
    levels = parse_levels(args.intervals)  # bad levels fail before the model is read
    forecaster = Forecaster.load(Path(args.model))
    configure_threads(forecaster.config.train.threads)
    check_intervals(forecaster, args.model, levels, per_date=False)
    chosen = parse_filter(args.series, forecaster.config.data.series) if args.series else None
    inputs = forecaster.read_inputs(Path(args.data), chosen)
    result = whatif.run(forecaster, inputs, column, factors, fixed, args.cost_per_impression, args.ad_spend, levels)
    target = forecaster.config.data.target
    print(whatif.table(result, target))
    responders = ", ".join(f"{display_name(name)} {share:.2g}" for name, share in forecaster.responders().items())
    still = [display_name(name) for name in forecaster.weights if name not in forecaster.responders()]
    print(f"note: the response to the plan comes from {responders} (the members that read plans, their weights "
          "renormalised)" + (f"; {', '.join(still)} read the history only and forecast the base plan's sales"
                             if still else ""), file=sys.stderr)
    if args.output:
        whatif.frame(result, target).to_csv(args.output, index=False)
        print(f"Wrote {args.output}", file=sys.stderr)
    if args.plot:
        whatif.write_png(result, target, Path(args.plot))
        print(f"Wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write an HTML report of the study: Optuna's plots, best trials, baselines; with --model, its test forecast."""
    config = load(args)  # a bad config fails before the heavy imports

    from tuner.api.study import load_study
    from tuner.tuning import configure_optuna_logging

    configure_optuna_logging(args.verbose)
    study = load_study(config, storage=args.storage)
    if args.model:  # it forecasts the model's test part
        from tuner.networks.threads import configure_threads

        configure_threads(study.config.train.threads)
    output = study.report(args.output, model=args.model, top=args.top)
    print(f"Wrote {output} (study {study.name!r}, {len(study.study.trials)} trials)")
    return 0
