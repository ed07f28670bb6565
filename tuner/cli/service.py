"""The tuning service's commands: `tuner submit` queues a study's trials, `tuner worker` runs the
queue's trials until stopped, `tuner jobs` lists the jobs, `tuner cancel` stops one
(`tuner.tuning.jobs` holds the queue, `tuner.tuning.service` the worker)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tuner.cli.argtypes import gpu_index, positive_int
from tuner.cli.commands import load
from tuner.errors import ConfigError

log = logging.getLogger("tuner")

SQLITE_NOTICE = ("notice: a SQLite storage serves workers on this machine only; for workers on other machines use "
                 "PostgreSQL or MySQL (--storage postgresql+psycopg2://...)")
DEFAULT_CACHE = "~/.cache/tuner"


def storage_url(args: argparse.Namespace) -> str:
    """`--storage`, else `$TUNER_STORAGE`: the commands without a config need one of them."""
    from tuner.tuning.storage import STORAGE_ENV

    url = args.storage or os.environ.get(STORAGE_ENV)
    if not url:
        raise ConfigError(f"no storage: give --storage URL or set ${STORAGE_ENV} (the database the jobs are queued in)")
    return url


def sqlite_notice(url: str) -> None:
    from tuner.tuning.storage import make_url_or_fail

    if make_url_or_fail(url).get_backend_name() == "sqlite":
        print(SQLITE_NOTICE, file=sys.stderr)


def cmd_submit(args: argparse.Namespace) -> int:
    """Queue trials of the configured study for the standing workers (`tuner worker`) and return at once."""
    config = load(args)  # a bad config fails before the heavy imports

    from tuner.tuning import configure_optuna_logging
    from tuner.tuning.service import submit
    from tuner.tuning.storage import mask_password, resolve_storage_url

    configure_optuna_logging(args.verbose)
    url = resolve_storage_url(config, args.storage)
    sqlite_notice(url)
    job = submit(config, url, config.study.n_trials, args.priority, config.study.timeout or None)
    print(job.study_name)
    print(f"Queued {config.study.n_trials} trial(s) of study {job.study_name!r} in {mask_password(url)} (budget "
          f"{job.budget}, priority {job.priority}); `tuner jobs` follows it", file=sys.stderr)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the queued jobs' trials, by priority, until stopped (SIGTERM or Ctrl-C: after the current batch)."""
    url = storage_url(args)
    if args.gpu is not None:  # before torch loads; this process is the worker's own, as `tune --workers` places them
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.gpu)

    from tuner.stopping import handle_stop_signals
    from tuner.tuning import configure_optuna_logging
    from tuner.tuning.runner import new_run_id
    from tuner.tuning.service import Worker
    from tuner.tuning.storage import mask_password

    configure_optuna_logging(args.verbose)
    handle_stop_signals()
    sqlite_notice(url)
    worker = Worker(url, new_run_id(), Path(args.cache).expanduser())
    where = "" if args.gpu is None else f", GPU {args.gpu} (train.device = auto or cuda)"
    print(f"Worker {worker.run_id} on {mask_password(url)}{where}: waiting for jobs (`tuner submit`)", file=sys.stderr,
          flush=True)
    ran = worker.serve(args.max_trials, args.exit_when_idle)
    print(f"Worker {worker.run_id}: ran {ran} trial(s)", file=sys.stderr)
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    """List the queued jobs: budget, trials by state, best value, elapsed time and time left."""
    from tuner.tuning import configure_optuna_logging
    from tuner.tuning.report import duration
    from tuner.tuning.service import job_status

    configure_optuna_logging(args.verbose)
    rows = job_status(storage_url(args), args.study or None)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No jobs; `tuner submit CONFIG` queues one.")
        return 0
    header = ["study", "state", "priority", "budget", "complete", "pruned", "failed", "running", "best", "elapsed",
              "left"]
    cells = [[row["study"], row["state"], str(row["priority"]), str(row["budget"]), str(row["complete"]),
              str(row["pruned"]), str(row["fail"]), str(row["running"]),
              "—" if row["best"] is None else f"{row['best']:.4g}", duration(row["elapsed_seconds"]),
              "—" if row["left_seconds"] is None else duration(row["left_seconds"])] for row in rows]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    for line in [header, *cells]:
        print("  ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                        for i, (cell, width) in enumerate(zip(line, widths))).rstrip())
    for row in rows:
        if row["reason"]:
            print(f"{row['study']}: {row['reason']}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    """Stop handing out a job's trials (running ones finish, or fail with --now); completed trials are kept."""
    from tuner.tuning import configure_optuna_logging
    from tuner.tuning.service import cancel

    configure_optuna_logging(args.verbose)
    cancel(storage_url(args), args.study, args.now)
    print(f"Cancelled study {args.study!r}: no more of its trials are handed out; "
          + ("its running trials stop at their next batch and fail" if args.now else "its running trials finish"))
    return 0


def add_commands(command: Callable[..., argparse.ArgumentParser], common: argparse.ArgumentParser,
                 study_flags: argparse.ArgumentParser) -> None:
    """The service's commands and flags, on the `tuner` parser (`command` makes a sub-parser)."""
    submit = command("submit", cmd_submit, [study_flags])
    submit.add_argument("--n-trials", type=positive_int, help="trials to add to the job's budget; overrides study.n_trials")
    submit.add_argument("--timeout", type=float, help="stop handing out the job's trials this many seconds after submit")
    submit.add_argument("--priority", type=int, help="higher runs first (default 0; a resubmit keeps the job's)")

    worker = command("worker", cmd_worker, [common])
    worker.add_argument("--storage", help="SQLAlchemy URL of the queue; default $TUNER_STORAGE")
    worker.add_argument("--cache", default=DEFAULT_CACHE, help=f"folder for this machine's copies of the jobs' data "
                                                                f"(default {DEFAULT_CACHE})")
    worker.add_argument("--gpu", type=gpu_index, metavar="N",
                        help="run on GPU N only (CUDA_VISIBLE_DEVICES; one worker per GPU); default: as train.device says")
    worker.add_argument("--max-trials", type=positive_int, metavar="N", help="stop after N trials")
    worker.add_argument("--exit-when-idle", type=float, metavar="SECONDS",
                        help="stop once the queue has been empty this long")

    jobs = command("jobs", cmd_jobs, [common])
    jobs.add_argument("study", nargs="*", help="only these studies' jobs (default: every job)")
    jobs.add_argument("--storage", help="SQLAlchemy URL of the queue; default $TUNER_STORAGE")
    jobs.add_argument("--format", choices=("table", "json"), default="table")

    cancel = command("cancel", cmd_cancel, [common])
    cancel.add_argument("study", help="the job's study name")
    cancel.add_argument("--storage", help="SQLAlchemy URL of the queue; default $TUNER_STORAGE")
    cancel.add_argument("--now", action="store_true", help="also fail its running trials (completed ones are kept)")
