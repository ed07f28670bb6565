import math
import signal

import numpy as np
import pytest
import torch
from conftest import write_study

from tuner.config.loading import load_config
from tuner.config.schema import ModelConfig, TrainConfig
from tuner.data.dataset import Dataset
from tuner.errors import TrainingDiverged
from tuner.networks.models import build_model
from tuner.networks.training import epoch_samples, fit, predict, seeded
from tuner.stopping import STOP_REQUESTED, request_stop

MODEL = ModelConfig(kind="lstm", n_inputs=6, horizon=1, hidden_size=16)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    config = load_config(write_study(tmp_path_factory.mktemp("train")))
    return Dataset.from_config(config.data, config.split)


def test_same_seed_same_model(dataset):
    config = TrainConfig(epochs=3, threads=1)
    results = []
    for _ in range(2):
        with seeded(5):
            model = build_model(MODEL)
        fit(model, dataset.windows("train"), dataset.windows("validation"), 1e-3, config, seed=5)
        results.append(predict(model, dataset.windows("test").inputs))
    np.testing.assert_array_equal(results[0], results[1])


def test_early_stopping_keeps_the_best_epochs_weights(dataset):
    config = TrainConfig(epochs=30, patience=2)
    losses = []
    model = build_model(MODEL)
    result = fit(model, dataset.windows("train"), dataset.windows("validation"), 1e-3, config, seed=0,
                 on_epoch=lambda e: losses.append(e.val_loss))
    assert result.epochs_run == len(losses)
    assert result.best_val_loss == min(losses) and losses.index(min(losses)) == result.best_epoch
    assert result.epochs_run < 30 or result.best_epoch >= 27
    held = predict(model, dataset.windows("validation").inputs)
    np.testing.assert_allclose(held, result.val_forecast, rtol=1e-6)


def test_a_stop_request_ends_training_at_the_next_batch(dataset):
    epochs_seen = []

    def stop_after_first_epoch(epoch):
        epochs_seen.append(epoch.epoch)
        request_stop(signal.SIGINT, None)  # what Ctrl-C does in `tuner tune`

    try:
        with pytest.raises(KeyboardInterrupt):
            fit(build_model(MODEL), dataset.windows("train"), dataset.windows("validation"), 1e-3,
                TrainConfig(epochs=5), seed=0, on_epoch=stop_after_first_epoch)
    finally:
        STOP_REQUESTED.clear()
    assert epochs_seen == [0]


def test_training_without_validation_runs_the_given_epochs(dataset):
    result = fit(build_model(MODEL), dataset.windows("train"), None, 1e-3, TrainConfig(patience=1), seed=0, epochs=4)
    assert result.epochs_run == 4 and result.best_epoch == 3 and math.isinf(result.best_val_loss)


def test_nan_loss_stops_training_with_the_reason(dataset):
    model = build_model(MODEL)
    with torch.no_grad():
        model.head.bias.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match=r"training loss became nan in epoch 0"):
        fit(model, dataset.windows("train"), dataset.windows("validation"), 1e-3, TrainConfig(), seed=0)


@pytest.mark.parametrize("loss", ["mae", "mse", "huber"])
def test_early_stopping_uses_the_training_loss(dataset, loss):
    config = TrainConfig(epochs=3, patience=3, loss=loss)
    result = fit(build_model(MODEL), dataset.windows("train"), dataset.windows("validation"), 1e-3, config, seed=0)
    error = result.val_forecast - dataset.windows("validation").targets
    expected = {"mae": np.abs(error).mean(), "mse": (error**2).mean(),
                "huber": np.where(np.abs(error) < 1, 0.5 * error**2, np.abs(error) - 0.5).mean()}[loss]
    assert result.best_val_loss == pytest.approx(expected, rel=1e-5)


def test_a_short_training_part_is_passed_over_whole_times_to_reach_the_epoch_minimum():
    drawn = epoch_samples(100, 0, 640, torch.Generator().manual_seed(0))
    assert len(drawn) == 700  # 7 passes: the fewest that reach 640
    passes = drawn.reshape(7, 100)
    assert all(sorted(one.tolist()) == list(range(100)) for one in passes)
    assert not torch.equal(passes[0], passes[1])  # each pass in its own order
    assert len(epoch_samples(100, 0, 0, torch.Generator())) == 100  # 0: one pass


@pytest.mark.parametrize("minimum", [0, 640])
def test_an_epoch_trains_on_at_least_min_samples_per_epoch_windows(dataset, minimum):
    train = dataset.windows("train")
    batches = []
    model = build_model(MODEL)
    model.register_forward_pre_hook(lambda module, args: batches.append(len(args[0])) if module.training else None)
    fit(model, train, None, 1e-3, TrainConfig(epochs=2, batch_size=32, min_samples_per_epoch=minimum), seed=0)
    passes = max(1, math.ceil(minimum / len(train)))
    assert len(train) < 640 and sum(batches) == 2 * passes * len(train)
    assert len(batches) == 2 * math.ceil(passes * len(train) / 32)
