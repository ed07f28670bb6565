"""The `tuner` command line: a few lines per command; errors become one line and an exit status."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import typing
from collections.abc import Callable
from pathlib import Path

from tuner import __version__
from tuner.argtypes import gpu_list, non_negative_float, png_file, positive_int, unit_fraction
from tuner.config import Config, load_config
from tuner.errors import TunerError
from tuner.names import BASELINES, display_name

log = logging.getLogger("tuner")

EXIT_USAGE = 2  # bad config, data, storage or command line
EXIT_FAILURE = 1  # anything unexpected
EXIT_INTERRUPTED = 130  # Ctrl-C
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def load(args: argparse.Namespace) -> Config:
    """The config file with `--set` overrides, then the dedicated flags on top."""
    flags = {"n_trials": "study.n_trials", "timeout": "study.timeout", "study": "study.name", "devices": "train.devices"}
    values = {key: getattr(args, flag) for flag, key in flags.items() if getattr(args, flag, None) is not None}
    return load_config(args.config, args.set, values)


def open_existing(args: argparse.Namespace, config: Config) -> tuple:
    """(the study, which must exist; the config with the settings it was tuned with; the storage URL)."""
    from tuner.tuning import configure_optuna_logging
    from tuner.tuning.study import open_for_reading

    configure_optuna_logging(args.verbose)
    return open_for_reading(config, args.storage)


def cmd_tune(args: argparse.Namespace) -> int:
    """Run trials of the configured study (creating it, or resuming it), then print the best."""
    config = load(args)  # a bad config fails before the heavy imports

    from tuner.stopping import handle_stop_signals
    from tuner.tuning import configure_optuna_logging
    from tuner.tuning.report import summary
    from tuner.tuning.runner import tune
    from tuner.tuning.storage import mask_password, resolve_storage_url

    configure_optuna_logging(args.verbose)
    if args.workers == 1:
        from tuner.train import configure_threads

        configure_threads(config.train.threads)  # more workers: each sets its own
    handle_stop_signals()
    url = resolve_storage_url(config, args.storage)
    log.info("study %r in %s", config.study.name, mask_password(url))
    result = tune(config, url, workers=args.workers, progress=not args.no_progress, allow_changed=args.allow_changed)
    print(summary(result.study, mask_password(url)))
    if result.interrupted:
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
        from tuner.train import configure_threads
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

    from dataclasses import replace

    from tuner.export import config_to_dict, dump_toml
    from tuner.tuning.storage import mask_password, without_password
    from tuner.tuning.study import best_params, best_trial

    study, config, url = open_existing(args, config)
    best = best_trial(study)
    exported = replace(config, params=best_params(study), study=replace(config.study, storage=without_password(url)))
    output = Path(args.output)
    data = config_to_dict(exported, relative_to=output.resolve().parent)
    if output.suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = dump_toml(data, header=(
            f"Exported by tuner from trial #{best.number} of study {study.study_name!r} "
            f"({config.study.metric} = {best.value:.6g}).\n`tuner fit` retrains [params] on train + validation "
            f"for params.epochs epochs.{' The storage password is left out.' if url != without_password(url) else ''}"
        ))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"Wrote {output}: trial #{best.number}, {config.study.metric} = {best.value:.6g} "
          f"(storage {mask_password(url)})")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    """Retrain the chosen configuration on train + validation (or take a trial's own weights, or
    combine the best trials), test it once, save a model directory."""
    config = load(args)  # a bad config fails before the heavy imports

    import tempfile

    from tuner.forecaster import Forecaster
    from tuner.tables import intervals_lines, metrics_table, series_table
    from tuner.train import configure_threads

    with tempfile.TemporaryDirectory(prefix="tuner-fit-") as folder:
        if config.params.model and not (args.ensemble or args.from_trial is not None):
            chosen, weights = [config.params], None
        else:
            from tuner.tuning.study import fitted_trials

            study, config, url = open_existing(args, config)
            chosen, weights = fitted_trials(study, config, url, args.ensemble or 1, args.from_trial, Path(folder))
        configure_threads(config.train.threads)
        forecaster, test = Forecaster.fit(config, chosen, combine=args.combine, weights=weights,
                                          intervals=not args.no_intervals, boosting_weight=args.boosting_weight)
    forecaster.save(Path(args.output))
    shown = [name for name in ("model", "networks", *BASELINES) if name in forecaster.metrics]
    rows = {display_name(name): forecaster.metrics[name] for name in shown}
    what = ", ".join(f"{p.model} ({p.epochs} epochs)" if weights is None else p.model for p in chosen)
    how = "on train + validation" if weights is None else "from the trials' own weights (trained on train)"
    combined = f", {args.combine} of {len(chosen)}" if len(chosen) > 1 else ""
    boosting = (f"; combined with gradient boosting fitted on train + validation at weight "
                f"{forecaster.boosting_weight:g} (--boosting-weight)") if forecaster.boosting else ""
    print(f"Fitted {what} {how}{combined}{boosting}; saved to {args.output}")
    print("Test (in the target's units, never seen while tuning):")
    print("\n".join(metrics_table(rows, prefix="test_")))
    for line in forecaster.test_notes():
        print(line)
    if forecaster.series_metrics is not None:
        per_series = forecaster.series_metrics
        worse = int((per_series["vs_seasonal_naive"] > 1).sum())
        print(f"Pooled over {len(per_series)} series; per series in {Path(args.output) / 'series_metrics.csv'} "
              f"(the model's test MAE is above seasonal-naive's on {worse} of them)")
    if "intervals" in forecaster.metrics:
        print("\n".join(intervals_lines(forecaster.metrics["intervals"])))
    if "by_step" in forecaster.metrics:
        steps = {display_name(name): errors["test_mae"] for name, errors in forecaster.metrics["by_step"].items()}
        print("Test MAE by forecast step:")
        print("\n".join(series_table(steps)))
    if args.plot:
        from tuner.plots import lines_on_test_part, title_on_test_part, write_png

        lines = lines_on_test_part(test)
        write_png(lines, title_on_test_part(config.data, forecaster.label), config.data.target, Path(args.plot))
        print(f"Wrote {args.plot}", file=sys.stderr)
    return 0


def check_intervals(forecaster: typing.Any, model: str, levels: list[float], per_date: bool = True) -> None:
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
    from tuner.errors import DataError
    from tuner.forecaster import Forecaster
    from tuner.intervals import parse_levels
    from tuner.series import parse_filter

    levels = parse_levels(args.intervals)  # bad levels fail before the model is read
    forecaster = Forecaster.load(Path(args.model))
    check_intervals(forecaster, args.model, levels)
    chosen = parse_filter(args.series, forecaster.config.data.series) if args.series else None
    result = forecaster.forecast(Path(args.data), levels, chosen)
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
        from tuner.plots import prediction_bands, prediction_lines, write_png

        lines = prediction_lines(data, Path(args.data), result)
        write_png(lines, f"{data.target}: history and forecast", data.target, Path(args.plot),
                  prediction_bands(data, result, levels, lines))
        print(f"Wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_whatif(args: argparse.Namespace) -> int:
    """Forecast sales under scenarios of the known-future inputs (e.g. ad budgets) and the ROAS they imply."""
    from tuner import whatif
    from tuner.forecaster import Forecaster
    from tuner.intervals import parse_levels
    from tuner.series import parse_filter

    column, factors = whatif.parse_scale(args.scale)
    fixed = whatif.parse_fixed(args.set)
    levels = parse_levels(args.intervals)  # bad levels fail before the model is read
    forecaster = Forecaster.load(Path(args.model))
    check_intervals(forecaster, args.model, levels, per_date=False)
    chosen = parse_filter(args.series, forecaster.config.data.series) if args.series else None
    inputs = forecaster.read_inputs(Path(args.data), chosen)
    result = whatif.run(forecaster, inputs, column, factors, fixed, args.cost_per_impression, args.ad_spend, levels)
    target = forecaster.config.data.target
    print(whatif.table(result, target))
    if forecaster.boosting:
        print(f"note: a share of {forecaster.boosting_weight:g} of this model's forecast comes from gradient boosting, "
              "whose trees answer a plan in steps; for planning, `tuner fit --boosting-weight 0` fits the networks "
              "alone (BENCHMARKS.md, figure 11)", file=sys.stderr)
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

    from tuner.tuning.report import html_report
    from tuner.tuning.storage import mask_password

    study, _, url = open_existing(args, config)
    page = html_report(study, mask_password(url), args.top, Path(args.model) if args.model else None)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    print(f"Wrote {output} (study {study.study_name!r}, {len(study.trials)} trials)")
    return 0


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit status 2), like every other tuner error."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"tuner: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log every trial and epoch")
    common.add_argument("--debug", action="store_true", help="show tracebacks of errors")

    study_flags = argparse.ArgumentParser(add_help=False, parents=[common])
    study_flags.add_argument("config", help="study config file (TOML)")
    study_flags.add_argument("--storage", help="SQLAlchemy URL; overrides $TUNER_STORAGE and study.storage")
    study_flags.add_argument("--study", help="study name; overrides study.name")
    study_flags.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                             help="override any config value (repeatable), e.g. --set train.epochs=5")

    parser = Parser(prog="tuner", description="Tune LSTM and LSTM+Transformer sales forecasters with Optuna.")
    parser.add_argument("--version", action="version", version=f"tuner {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    def command(name: str, handler: Callable[[argparse.Namespace], int], parents: list) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=parents, help=handler.__doc__, description=handler.__doc__)
        sub.set_defaults(handler=handler)
        return sub

    dashboard = command("dashboard", cmd_dashboard, [study_flags])
    dashboard.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8080)

    best = command("best", cmd_best, [study_flags])
    best.add_argument("--top", type=positive_int, default=5, help="how many trials (default 5)")
    best.add_argument("--format", choices=("table", "json"), default="table")
    best.add_argument("--reseed", type=positive_int, metavar="N",
                      help="retrain the --top configurations with N fresh seeds each and rank them by mean and spread")

    export = command("export", cmd_export, [study_flags])
    export.add_argument("-o", "--output", required=True, help="file to write: .toml, or .json")

    fit = command("fit", cmd_fit, [study_flags])
    fit.add_argument("-o", "--output", required=True, help="model directory to write, e.g. models/NAME")
    fit.add_argument("--plot", type=png_file, metavar="FILE.png", help="also write a PNG of the test forecast vs actual")
    fit.add_argument("--from-trial", type=int, nargs="?", const=-1, metavar="N",
                     help="no retraining: take trial N's own stored weights (default: the best trial's)")
    fit.add_argument("--ensemble", type=positive_int, metavar="K",
                     help="combine the K best trials' models into one (refitted, or their own weights with --from-trial)")
    fit.add_argument("--no-intervals", action="store_true",
                     help="skip the calibration for prediction intervals (a refit then trains once, not twice)")
    fit.add_argument("--combine", choices=("mean", "median"), default="mean",
                     help="how an ensemble's forecasts are combined (default mean)")
    fit.add_argument("--boosting-weight", type=unit_fraction, metavar="W",
                     help="share of gradient boosting (fitted on train + validation) in the forecast: 0 for the networks "
                          "alone, 1 for boosting alone (default 0.5 for point models, 0 for quantile models)")

    predict = command("predict", cmd_predict, [common])
    predict.add_argument("model", help="model directory written by `tuner fit`")
    predict.add_argument("data", help="CSV with the model's columns; its last data.window rows are used")
    predict.add_argument("-o", "--output", help="CSV to write (default: stdout)")
    predict.add_argument("--plot", type=png_file, metavar="FILE.png", help="also write a PNG of the history's tail and the forecast")
    predict.add_argument("--intervals", metavar="LEVELS",
                         help="prediction intervals at these levels in %%, e.g. 80,95: adds <target>_lo_80, "
                              "<target>_hi_80, ... columns (conformal, see README)")
    predict.add_argument("--series", metavar="COLUMN=VALUE,...",
                         help="a panel model: forecast only the series with these ids, e.g. store=3,sku=A17")

    what_if = command("whatif", cmd_whatif, [common])
    what_if.add_argument("model", help="model directory written by `tuner fit` with data.known_future set")
    what_if.add_argument("data", help="CSV as for `tuner predict`: the history, then the plan for the forecast dates")
    what_if.add_argument("--scale", required=True, metavar="COLUMN=F1,F2,...",
                         help="scenarios: the planned values of this known-future input times each factor")
    what_if.add_argument("--set", action="append", default=[], metavar="COLUMN=VALUE",
                         help="hold a known-future input at VALUE on every forecast date (repeatable)")
    spend = what_if.add_mutually_exclusive_group()
    spend.add_argument("--cost-per-impression", type=non_negative_float, metavar="PRICE",
                       help="ad spend = PRICE x the scaled column (impressions): adds ROAS per scenario")
    spend.add_argument("--ad-spend", type=non_negative_float, metavar="AMOUNT",
                       help="the base plan's ad spend over the forecast dates, scaled with the factor: adds ROAS")
    what_if.add_argument("-o", "--output", help="also write the scenarios as CSV")
    what_if.add_argument("--intervals", metavar="LEVELS",
                         help="intervals for each scenario's total at these levels in %%, e.g. 80,95")
    what_if.add_argument("--plot", type=png_file, metavar="FILE.png", help="also write a PNG of the sales response")
    what_if.add_argument("--series", metavar="COLUMN=VALUE,...",
                         help="a panel model: scale the plan of only the series with these ids (default: every series)")

    report = command("report", cmd_report, [study_flags])
    report.add_argument("-o", "--output", default="report.html", help="HTML file to write (default report.html)")
    report.add_argument("--model", metavar="DIR", help="model directory from `tuner fit`: adds its test forecast")
    report.add_argument("--top", type=positive_int, default=10, help="best trials to list (default 10)")

    tune = command("tune", cmd_tune, [study_flags])
    tune.add_argument("--n-trials", type=int, help="trials to add in this run; overrides study.n_trials")
    tune.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    tune.add_argument("--workers", type=positive_int, default=1,
                      help="worker processes sharing the study (each with cores / N torch threads)")
    tune.add_argument("--no-progress", action="store_true", help="no progress bar")
    tune.add_argument("--devices", type=gpu_list, metavar="0,1",
                      help="GPUs to place the workers on, round-robin; overrides train.devices (default: every GPU)")
    tune.add_argument("--allow-changed", action="store_true",
                      help="run even if the data or split settings differ from those the study was tuned with")
    return parser


def configure_logging(verbose: bool) -> None:
    """Log to stderr: warnings, and with -v every trial and epoch (optuna's own logging is set
    by the commands that load it)."""
    logging.basicConfig(format=LOG_FORMAT, level=logging.WARNING)
    logging.getLogger("tuner").setLevel(logging.INFO if verbose else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return args.handler(args)
    except TunerError as exc:
        if args.debug:
            raise
        print(f"tuner: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the output went to `head` or similar, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail
        return 0
    except Exception as exc:  # the last resort: one line instead of a traceback
        if args.debug:
            raise
        print(f"tuner: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
