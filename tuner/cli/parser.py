"""The `tuner` command line: its commands and flags, and errors as one line and an exit status
(`tuner.cli.commands` holds what each command does)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import typing
from collections.abc import Callable

from tuner import __version__
from tuner.cli.argtypes import (
    gpu_list,
    non_negative_float,
    png_file,
    positive_int,
    unit_fraction,
    unit_fraction_or_auto,
)
from tuner.cli.commands import (
    cmd_best,
    cmd_dashboard,
    cmd_export,
    cmd_fit,
    cmd_predict,
    cmd_report,
    cmd_tune,
    cmd_whatif,
)
from tuner.cli.service import add_commands
from tuner.config.names import COMBINES
from tuner.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, TunerError

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


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
                     help="the K best trials, each a networks candidate weighed with the other members (fit.configs; "
                          "refitted, or their own weights with --from-trial)")
    fit.add_argument("--seeds", type=positive_int, metavar="K",
                     help="train each network K times, with the seeds study.seed, study.seed + 1, ..., and combine their "
                          "forecasts (default fit.seeds, 5; with --from-trial 1: a trial's own network was trained once)")
    fit.add_argument("--no-intervals", action="store_true",
                     help="skip the calibration for prediction intervals (the backtest windows still run where the "
                          "ensemble has more than one candidate)")
    fit.add_argument("--combine", choices=COMBINES, default=None,
                     help="how each configuration's seeds are combined (default fit.combine, mean)")
    fit.add_argument("--boosting-weight", type=unit_fraction, metavar="W",
                     help="a fixed share of gradient boosting in the forecast (fit.weights.boosting): 0 leaves it out; "
                          "default: chosen on the backtest windows")
    fit.add_argument("--linear-weight", type=unit_fraction_or_auto, default=None, metavar="W",
                     help="a fixed share of the linear member (fit.weights.linear): 0 leaves it out; auto: chosen on "
                          "the backtest windows (the default)")
    fit.add_argument("--ets-weight", type=unit_fraction_or_auto, default=None, metavar="W",
                     help="a fixed share of exponential smoothing (fit.weights.ets): 0 leaves it out; auto: chosen on "
                          "the backtest windows (the default)")

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
                      help="worker processes sharing the study (each with train.threads threads; default: the idle cores)")
    tune.add_argument("--no-progress", action="store_true", help="no progress bar")
    tune.add_argument("--devices", type=gpu_list, metavar="0,1",
                      help="GPUs to place the workers on, round-robin; overrides train.devices (default: every GPU)")
    tune.add_argument("--allow-changed", action="store_true",
                      help="run even if the data or split settings differ from those the study was tuned with")
    add_commands(command, common, study_flags)
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
