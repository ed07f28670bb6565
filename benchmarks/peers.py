"""Figure 6, peer side: neuralforecast's AutoLSTM (Optuna backend) and pytorch-forecasting's
`optimize_hyperparameters` on the demo data, split and trial budget that `tuner` uses.

Runs in an interpreter where the peers import (they pin other versions of pandas and friends, so
they live in their own virtual environment); `run.py --peer-python PATH` starts it:

    python benchmarks/peers.py --trials 8 --output peers.json
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import traceback
from pathlib import Path

import pandas as pd

from tuner.config.loading import load_config
from tuner.data.dataset import Dataset

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "studies" / "ecommerce_daily.toml"
MAX_STEPS = 200  # neuralforecast trains by steps of 32 windows: about 9 epochs of the demo's training part
MAX_EPOCHS = 6  # pytorch-forecasting


def demo_rows() -> tuple[pd.DataFrame, list[str], int, int]:
    """The demo's train + validation rows (never the test part) in long format, the feature
    names, and where validation starts and ends."""
    config = load_config(DEMO_CONFIG)
    dataset = Dataset.from_config(config.data, config.split)
    train_end, val_end = dataset.bounds["validation"]
    frame = pd.DataFrame(dataset.values, columns=config.data.columns)
    frame.insert(0, "ds", dataset.dates)
    frame.insert(0, "unique_id", "demo")
    frame = frame.rename(columns={config.data.target: "y"}).iloc[:val_end]
    return frame, list(config.data.features), train_end, val_end


def neuralforecast_run(trials: int, seed: int) -> dict:
    import optuna
    from neuralforecast import NeuralForecast
    from neuralforecast.auto import AutoLSTM
    from neuralforecast.losses.pytorch import MAE

    frame, features, train_end, val_end = demo_rows()

    def space(trial: optuna.Trial) -> dict:
        return {
            "input_size": 28, "max_steps": MAX_STEPS, "val_check_steps": 25, "early_stop_patience_steps": 4,
            "encoder_hidden_size": trial.suggest_categorical("encoder_hidden_size", [32, 64]),
            "encoder_n_layers": trial.suggest_int("encoder_n_layers", 1, 2),
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-3, log=True),
            "batch_size": 1, "windows_batch_size": 32, "scaler_type": "standard", "hist_exog_list": features,
            "random_seed": seed, "enable_progress_bar": False, "enable_model_summary": False,
            "logger": False,
        }

    model = AutoLSTM(h=1, loss=MAE(), valid_loss=MAE(), config=space, backend="optuna", num_samples=trials,
                     search_alg=optuna.samplers.TPESampler(seed=seed))
    forecaster = NeuralForecast(models=[model], freq="D")
    started = time.perf_counter()
    forecaster.fit(frame, val_size=val_end - train_end)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "best_val_mae": forecaster.models[0].results.best_value,
            "note": f"{trials} trials, up to {MAX_STEPS} steps each, then the best refitted (included)"}


def pytorch_forecasting_run(trials: int, seed: int) -> dict:
    import lightning.pytorch as pl
    from pytorch_forecasting import TimeSeriesDataSet
    from pytorch_forecasting.metrics import MAE
    from pytorch_forecasting.models.temporal_fusion_transformer.tuning import optimize_hyperparameters

    frame, features, train_end, val_end = demo_rows()
    frame["time_idx"] = range(len(frame))
    training = TimeSeriesDataSet(frame[frame.time_idx < train_end], time_idx="time_idx", target="y",
                                 group_ids=["unique_id"], max_encoder_length=28, max_prediction_length=1,
                                 time_varying_unknown_reals=["y", *features])
    validation = TimeSeriesDataSet.from_dataset(training, frame, min_prediction_idx=train_end, stop_randomization=True)
    pl.seed_everything(seed)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        study = optimize_hyperparameters(
            training.to_dataloader(train=True, batch_size=32, num_workers=0),
            validation.to_dataloader(train=False, batch_size=1024, num_workers=0),
            model_path=folder, log_dir=folder, n_trials=trials, max_epochs=MAX_EPOCHS,
            hidden_size_range=(16, 64), hidden_continuous_size_range=(8, 32), attention_head_size_range=(1, 4),
            learning_rate_range=(1e-4, 1e-2), use_learning_rate_finder=False, loss=MAE(),
            trainer_kwargs={"enable_progress_bar": False, "enable_model_summary": False},
        )
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "best_val_mae": study.best_value,
            "note": f"{trials} trials of the Temporal Fusion Transformer, up to {MAX_EPOCHS} epochs each"}


PEERS = {"neuralforecast AutoLSTM": neuralforecast_run, "pytorch-forecasting": pytorch_forecasting_run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    results = {}
    for name, run in PEERS.items():
        try:
            results[name] = run(args.trials, args.seed)
        except Exception as exc:  # a peer that breaks is a result to record, not a reason to stop
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"}
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
