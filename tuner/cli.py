"""The `tuner` command line: a few lines per command; errors become one line and an exit status."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from tuner import __version__
from tuner.config import Config, load_config
from tuner.errors import TunerError

EXIT_USAGE = 2  # bad config, data, storage or command line
EXIT_FAILURE = 1  # anything unexpected
EXIT_INTERRUPTED = 130  # Ctrl-C


def load(args: argparse.Namespace) -> Config:
    """The config file with `--set` overrides, then the dedicated flags on top."""
    flags = {"n_trials": "study.n_trials", "timeout": "study.timeout", "study": "study.name"}
    values = {key: getattr(args, flag) for flag, key in flags.items() if getattr(args, flag, None) is not None}
    return load_config(args.config, args.set, values)


def cmd_tune(args: argparse.Namespace) -> int:
    """Run trials of the configured study (creating it, or resuming it), then print the best."""
    from tuner.report import summary
    from tuner.runner import handle_stop_signals, tune
    from tuner.study import mask_password, resolve_storage_url

    config = load(args)
    handle_stop_signals()
    url = resolve_storage_url(config, args.storage)
    logging.getLogger("tuner").info("study %r in %s", config.study.name, mask_password(url))
    result = tune(config, url, workers=args.workers, progress=not args.no_progress)
    print(summary(result.study, mask_password(url)))
    if result.interrupted:
        print("Interrupted: completed trials are kept; run the same command to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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

    parser = argparse.ArgumentParser(
        prog="tuner", description="Tune LSTM and LSTM+Transformer sales forecasters with Optuna.")
    parser.add_argument("--version", action="version", version=f"tuner {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], parents: list) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=parents, help=handler.__doc__, description=handler.__doc__)
        sub.set_defaults(handler=handler)
        return sub

    tune = command("tune", cmd_tune, [study_flags])
    tune.add_argument("--n-trials", type=int, help="trials to add in this run; overrides study.n_trials")
    tune.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    tune.add_argument("--workers", type=positive_int, default=1,
                      help="worker processes sharing the study (each with cores / N torch threads)")
    tune.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def configure_logging(verbose: bool) -> None:
    import optuna

    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("tuner").setLevel(logging.INFO if verbose else logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)


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
    except Exception as exc:  # the last resort: one line instead of a traceback
        if args.debug:
            raise
        print(f"tuner: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
