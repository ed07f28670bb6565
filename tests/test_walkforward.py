"""Walk-forward validation: fold boundaries, per-fold scaling, per-fold metrics and pruning."""

import math

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import write_study
from sklearn.model_selection import TimeSeriesSplit

from tuner.config.loading import load_config
from tuner.data.dataset import Dataset
from tuner.data.reading import load_frame
from tuner.errors import ConfigError, DataError
from tuner.tuning.evaluation import baseline_errors
from tuner.tuning.objective import Objective
from tuner.tuning.study import create_pruner

FOLDS = 3


def hand_made(rows: int = 100) -> pd.DataFrame:
    """A target equal to its row number, and a feature equal to ten times it."""
    index = pd.date_range("2024-01-01", periods=rows, freq="D", name="date")
    return pd.DataFrame({"ad_impressions": 10.0 * np.arange(rows), "sales": np.arange(rows, dtype=float)}, index=index)


@pytest.fixture
def config(tmp_path):
    return load_config(write_study(tmp_path, days=300, epochs=3),
                       ["data.window=5", 'data.features=["ad_impressions"]', "data.aggregation={}",
                        "split.train=0.6", "split.validation=0.2", f"split.folds={FOLDS}"])


def test_folds_are_successive_validation_windows_with_expanding_training(config):
    folds = Dataset.folds(hand_made(), config.data, config.split)
    # 100 rows: validation ends at row 80, each window is 20 rows long, the test part is 80-100
    assert [fold.bounds["train"] for fold in folds] == [(0, 20), (0, 40), (0, 60)]
    assert [fold.bounds["validation"] for fold in folds] == [(20, 40), (40, 60), (60, 80)]
    assert all(fold.bounds["test"] == (80, 100) for fold in folds)
    # the same cut as scikit-learn's TimeSeriesSplit with a fixed validation length
    cuts = TimeSeriesSplit(n_splits=FOLDS, test_size=20).split(np.zeros((80, 1)))
    for fold, (train, validation) in zip(folds, cuts):
        assert fold.bounds["train"] == (train[0], train[-1] + 1)
        assert fold.bounds["validation"] == (validation[0], validation[-1] + 1)
    # the last fold is the single split
    assert folds[-1].bounds == Dataset(hand_made(), config.data, config.split).bounds


def test_each_fold_scales_on_its_own_training_rows_only(config):
    frame = hand_made()
    for fold in Dataset.folds(frame, config.data, config.split):
        end = fold.bounds["train"][1]
        assert fold.scaling.mean[0, -1] == pytest.approx((end - 1) / 2)  # the mean of 0 .. end-1
        assert fold.scaling.mean[0, 0] == pytest.approx(10 * (end - 1) / 2)
        assert fold.scaling.scale[0, -1] == pytest.approx(np.arange(end).std())
        later = frame.copy()
        later.iloc[end:] *= 1000  # rows after the fold's training rows do not move its scaler
        changed = Dataset(later, config.data, config.split, fold=fold.fold)
        np.testing.assert_array_equal(changed.scaling.mean, fold.scaling.mean)


def test_fold_windows_target_only_their_own_rows(config):
    for fold in Dataset.folds(hand_made(), config.data, config.split):
        train, validation = fold.windows("train"), fold.windows("validation")
        start, end = fold.bounds["validation"]
        assert validation.target_rows.tolist() == list(range(start, end))
        assert train.target_rows.max() < start
        actual = fold.to_units(validation.targets, "validation")[:, 0]
        np.testing.assert_allclose(actual, np.arange(start, end), atol=1e-3)


def test_too_many_folds_name_the_fold_and_the_fix(config):
    config = load_config(config.source, ["data.window=5", 'data.features=["ad_impressions"]', "data.aggregation={}",
                                         "split.train=0.6", "split.validation=0.2", "split.folds=4"])
    with pytest.raises(DataError, match=r"fold 1 of split.folds = 4: the train part has 0 of 100 rows .*fewer split.folds"):
        Dataset.folds(hand_made(), config.data, config.split)


def test_baselines_are_averaged_over_folds_like_trials(config):
    folds = Dataset.folds(load_frame(config.data), config.data, config.split)
    each = [baseline_errors([fold])["naive"]["val_mae"] for fold in folds]
    assert baseline_errors(folds)["naive"]["val_mae"] == pytest.approx(np.mean(each))


def test_objective_averages_folds_and_reports_epochs_then_folds(config):
    folds = Dataset.folds(load_frame(config.data), config.data, config.split)
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    study.optimize(Objective(config, folds), n_trials=1)
    trial = study.trials[0]
    per_fold = trial.user_attrs["val_mae_folds"]
    assert len(per_fold) == FOLDS and len(set(per_fold)) == FOLDS
    assert trial.value == pytest.approx(np.mean(per_fold)) == trial.user_attrs["val_mae"]
    assert len(trial.user_attrs["val_rmse_folds"]) == FOLDS
    epochs = config.train.epochs
    fold_steps = [step for step in trial.intermediate_values if step >= epochs]
    assert fold_steps == [epochs + k for k in range(FOLDS)]
    assert trial.intermediate_values[epochs] == pytest.approx(per_fold[0])
    assert trial.intermediate_values[epochs + FOLDS - 1] == pytest.approx(np.mean(per_fold))
    assert min(trial.intermediate_values) == 0  # the first fold's epochs come first


def test_a_bad_first_fold_is_pruned_before_the_next_fold_trains(config):
    folds = Dataset.folds(load_frame(config.data), config.data, config.split)
    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    after_first_fold = config.train.epochs
    # a finished trial that was far better after its first fold (and reported no epochs)
    study.add_trial(optuna.trial.create_trial(
        params={}, distributions={}, value=1.0,
        intermediate_values={after_first_fold + k: 1.0 for k in range(FOLDS)}))
    study.optimize(Objective(config, folds), n_trials=1)
    pruned = study.trials[1]
    assert pruned.state == optuna.trial.TrialState.PRUNED
    assert len(pruned.user_attrs["val_mae_folds"]) == 1  # folds 2 and 3 never trained
    assert max(pruned.intermediate_values) == after_first_fold


def test_a_good_trial_runs_every_fold_under_the_same_pruner(config):
    folds = Dataset.folds(load_frame(config.data), config.data, config.split)
    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    study.add_trial(optuna.trial.create_trial(
        params={}, distributions={}, value=1e9,
        intermediate_values={config.train.epochs + k: 1e9 for k in range(FOLDS)}))
    study.optimize(Objective(config, folds), n_trials=1)
    assert study.trials[1].state == optuna.trial.TrialState.COMPLETE
    assert len(study.trials[1].user_attrs["val_mae_folds"]) == FOLDS


def test_wilcoxon_pruner_gets_one_value_per_fold(tmp_path):
    config = load_config(write_study(tmp_path, days=400, epochs=2),
                         ["split.folds=5", "split.train=0.5", "split.validation=0.1", "study.pruner=wilcoxon"])
    assert isinstance(create_pruner(config), optuna.pruners.WilcoxonPruner)
    folds = Dataset.folds(load_frame(config.data), config.data, config.split)
    study = optuna.create_study(pruner=create_pruner(config))
    study.optimize(Objective(config, folds), n_trials=1)
    trial = study.trials[0]
    assert sorted(trial.intermediate_values) == [0, 1, 2, 3, 4]  # steps are folds, no epochs
    assert [trial.intermediate_values[k] for k in range(5)] == pytest.approx(trial.user_attrs["val_mae_folds"])
    assert not math.isnan(trial.value)


def test_wilcoxon_needs_enough_folds(tmp_path):
    with pytest.raises(ConfigError, match=r"study.pruner = 'wilcoxon': needs split.folds >= 5 \(now 3\)"):
        load_config(write_study(tmp_path), ["split.folds=3", "study.pruner=wilcoxon"])
    with pytest.raises(ConfigError, match=r"split.folds = 0: must be greater than 0"):
        load_config(write_study(tmp_path), ["split.folds=0"])
