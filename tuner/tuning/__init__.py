"""Everything that imports optuna: the search space and objective, storage and study, the runner
and its workers, reseeding and the study reports. Nothing else in `tuner` imports optuna."""


def configure_optuna_logging(verbose: bool) -> None:
    """Optuna's own log level for this process: its trial lines with -v, else warnings only."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
