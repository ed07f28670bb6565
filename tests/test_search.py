import copy
from dataclasses import replace

import numpy as np
import optuna
import pytest
from conftest import write_study

from tuner.config.loading import load_config
from tuner.data.dataset import Dataset
from tuner.errors import TrainingDiverged
from tuner.networks.models import model_config
from tuner.tuning.objective import Objective
from tuner.tuning.space import suggest_params
from tuner.tuning.study import PRUNE_WARMUP_EPOCHS, create_pruner

VAL_ATTRS = {"val_mae", "val_rmse", "val_mape", "val_smape", "val_wape"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    config = load_config(write_study(tmp_path_factory.mktemp("search"), epochs=3))
    return config, Dataset.from_config(config.data, config.split)


def test_space_reaches_both_models_and_never_an_invalid_head_count(setup):
    config, _ = setup
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    kinds = set()
    for _ in range(60):
        trial = study.ask()
        params = suggest_params(trial, config.search)
        model = model_config(params, config.data)
        kinds.add(model.kind)
        if model.kind == "lstm_transformer":
            assert model.hidden_size % model.num_heads == 0
        else:
            assert "num_heads" not in trial.params and "ff_size" not in trial.params
        assert config.search.lr.low <= params["lr"] <= config.search.lr.high
        study.tell(trial, 1.0)
    assert kinds == {"lstm", "lstm_transformer"}
    assert study.trials[0].distributions["lr"].log


def test_objective_stores_metrics_and_reports_every_epoch(setup):
    config, dataset = setup
    study = optuna.create_study()
    study.optimize(Objective(config, [dataset]), n_trials=2)
    for trial in study.trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert VAL_ATTRS | {"best_epoch", "epochs_run", "n_params", "train_seconds"} <= set(trial.user_attrs)
        assert trial.value == trial.user_attrs["val_mae"]
        assert sorted(trial.intermediate_values) == list(range(trial.user_attrs["epochs_run"]))


def test_objective_prunes_through_ask_report_tell(setup):
    config, dataset = setup
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))  # every value is "too high"
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 0 with val_mae"):
        Objective(config, [dataset])(trial)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    frozen = study.trials[0]
    assert frozen.state == optuna.trial.TrialState.PRUNED
    assert list(frozen.intermediate_values) == [0] and frozen.user_attrs["epochs_run"] == 1


@pytest.mark.parametrize("pruner", ["median", "percentile"])
def test_a_trial_far_behind_the_finished_ones_is_pruned_after_the_warm_up(setup, pruner):
    config, dataset = setup
    config = replace(config, train=replace(config.train, epochs=6, patience=6),
                     study=replace(config.study, pruner=pruner, prune_startup_trials=2))
    study = optuna.create_study(pruner=create_pruner(config))
    for _ in range(2):  # finished trials far better at every epoch
        study.add_trial(optuna.trial.create_trial(value=1e-9, intermediate_values=dict.fromkeys(range(6), 1e-9)))
    study.optimize(Objective(config, [dataset]), n_trials=1)
    trial = study.trials[-1]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.user_attrs["epochs_run"] == PRUNE_WARMUP_EPOCHS + 1


def test_each_pruner_name_builds_its_optuna_pruner(setup):
    config, _ = setup
    expected = {"median": optuna.pruners.MedianPruner, "percentile": optuna.pruners.PercentilePruner,
                "hyperband": optuna.pruners.HyperbandPruner,
                "successive_halving": optuna.pruners.SuccessiveHalvingPruner, "none": optuna.pruners.NopPruner}
    for name, kind in expected.items():
        assert type(create_pruner(replace(config, study=replace(config.study, pruner=name)))) is kind, name


def test_diverging_trial_fails_with_its_reason_and_the_study_goes_on(setup):
    config, dataset = setup
    train = dataset.windows("train")
    broken = copy.copy(dataset)
    broken._windows = {**dataset._windows, ("train", config.data.window): replace(train, scaled=train.scaled * np.nan)}
    objectives = [Objective(config, [broken]), Objective(config, [dataset])]
    study = optuna.create_study()
    study.optimize(lambda trial: objectives[trial.number](trial), n_trials=2, catch=(TrainingDiverged,))
    failed, done = study.trials
    assert failed.state == optuna.trial.TrialState.FAIL
    assert "training loss became nan" in failed.user_attrs["fail_reason"]
    assert done.state == optuna.trial.TrialState.COMPLETE
