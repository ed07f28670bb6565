"""Figure 6, `tuner` side: start the peers in their own interpreter, then time how long the demo
study of figure 4 took to reach each peer's best validation MAE."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import optuna
from common import Budget, Figure, skipped

from tuner.config.schema import Config

PEER_TARGET = 0.5  # tuner's time to reach the peer's best / the peer's wall time
PEER_SCRIPT = Path(__file__).with_name("peers.py")
PEERS = ("neuralforecast AutoLSTM", "pytorch-forecasting")


def run_peers(peer_python: str, trials: int, workdir: Path) -> dict[str, dict]:
    """The peers' results, or one error per peer when their interpreter cannot run them."""
    output = workdir / "peers.json"
    done = subprocess.run([peer_python, str(PEER_SCRIPT), "--trials", str(trials), "--output", str(output)],
                          capture_output=True, text=True)
    if done.returncode != 0 or not output.is_file():
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {peer: {"error": reason} for peer in PEERS}
    return json.loads(output.read_text(encoding="utf-8"))


def seconds_to_reach(study: optuna.Study, value: float) -> tuple[float | None, float]:
    """Seconds from the study's first trial start until a completed trial scored ≤ `value`
    (None if none did), and the study's best value."""
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    started = min(t.datetime_start for t in study.get_trials(deepcopy=False) if t.datetime_start)
    reached = [t.datetime_complete for t in trials if t.value <= value]
    return ((min(reached) - started).total_seconds() if reached else None), study.best_value


def peers(budget: Budget, peer_python: str | None, pruned: Config, url: str, workdir: Path) -> list[Figure]:
    """Figure 6 for each peer: `tuner`'s time to reach the peer's best validation MAE / the peer's time."""
    unit, compared = "× peer's wall time", "the peer's whole search, same data, split and trial budget"
    target = f"≤ {PEER_TARGET}"
    if peer_python is None:
        return [skipped(f"6. time to reach {peer}'s best validation MAE", unit, compared,
                        "no --peer-python given (the peers need their own virtual environment)", target)
                for peer in PEERS]
    results = run_peers(peer_python, budget.peer_trials, workdir)
    study = optuna.load_study(study_name=f"pruning-{pruned.study.pruner}", storage=url)
    figures = []
    for peer in PEERS:
        result = results.get(peer, {"error": "no result"})
        name = f"6. time to reach {peer}'s best validation MAE"
        if "error" in result:
            figures.append(skipped(name, unit, compared, result["error"], target))
            continue
        seconds, best = seconds_to_reach(study, result["best_val_mae"])
        ratio = None if seconds is None else seconds / result["seconds"]
        reach = "never reached it" if seconds is None else f"reached it after {seconds:.0f} s"
        figures.append(Figure(
            name, ratio, unit, compared, 1, ratio, ratio, ratio, target, ratio is not None and ratio <= PEER_TARGET,
            note=f"peer: best {result['best_val_mae']:.1f} in {result['seconds']:.0f} s ({result['note']}); "
                 f"tuner: best {best:.1f}, {reach} ({len(study.trials)} trials)",
            details={"peer": result, "tuner_seconds": seconds, "tuner_best_val_mae": best},
        ))
    return figures
