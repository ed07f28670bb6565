"""The fitted forecaster: `tuner predict` on a file cut before a test date forecasts exactly what
`tuner fit` scored for that date (one scaling path, no off-by-one in the window slice)."""

import io
import json

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from conftest import tuner, write_study

from tuner.config.loading import load_config
from tuner.config.schema import ParamsConfig, with_params
from tuner.data.dataset import Dataset
from tuner.data.reading import load_frame
from tuner.ensemble.backtest import own_weights_backtest
from tuner.ensemble.forecaster import Forecaster
from tuner.ensemble.selection import weighted
from tuner.errors import ConfigError
from tuner.members import Recipe
from tuner.members.boosting import Boosting
from tuner.members.networks import Networks
from tuner.tuning.evaluation import Evaluator, tuning_folds
from tuner.tuning.objective import Objective
from tuner.tuning.study import fitted_trials

PARAMS = """
[params]
model = "lstm_transformer"
hidden_size = 16
num_layers = 1
dropout = 0.1
lr = 0.002
num_heads = 2
ff_size = 32
epochs = 3
"""


def cut_before(sales: pd.DataFrame, row: int, horizon: int, known: list[str]) -> pd.DataFrame:
    """The rows before `row`, then, for a model with known-future inputs, `horizon` plan rows:
    the known-future values as they were, every other cell empty."""
    plan = sales.iloc[row : row + horizon if known else row].copy()
    for column in plan.columns:
        if column not in ("date", *known):
            plan[column] = np.nan
    return pd.concat([sales.iloc[:row], plan])


DERIVED = 'interactions = { ad_conversions = ["ad_impressions", "ctr", "cvr"] }\ncarryover = { ad_conversions = [1, 5] }\n'


@pytest.mark.parametrize("horizon, known, calendar, transform, features, derived", [
    (1, [], False, "none", "global", False), (7, [], False, "none", "global", False),
    (7, ["ad_impressions", "discount_rate"], False, "none", "global", False),
    (7, ["discount_rate"], True, "none", "global", False), (7, ["discount_rate"], False, "log", "global", False),
    (1, [], False, "seasonal", "global", False), (7, ["discount_rate"], True, "log+seasonal", "global", False),
    (7, ["ad_impressions"], True, "log", "level", False), (7, ["discount_rate"], True, "log", "level", True)])
def test_predict_on_a_cut_file_equals_the_test_forecast_fit_scored(tmp_path, horizon, known, calendar, transform,
                                                                    features, derived):
    config = write_study(tmp_path, days=260, horizon=horizon, extra=PARAMS)
    dates = 'calendar = ["day_of_week", "month"]\ncalendar_harmonics = 3\nholidays = "US"\n' if calendar else ""
    text = config.read_text().replace(
        "[data]\n", f"[data]\nknown_future = {json.dumps(known)}\ntransform = {json.dumps(transform)}\n"
        f"feature_scaling = {json.dumps(features)}\n{dates}{DERIVED if derived else ''}", 1)
    config.write_text(text)
    model = tmp_path / "model"
    run = tuner("fit", str(config), "-o", str(model), "--no-intervals", "--ets-weight", "0.3",  # smoothing's state
                "--seeds", "2")  # comes from the cut file's history; two networks' mean from their windows
    assert run.returncode == 0, run.stderr

    forecaster = Forecaster.load(model)
    assert forecaster.weights["ets"] == 0.3
    levelled = forecaster.network.config.levelled_columns
    inputs = 5 + (3 if derived else 0)  # the five drivers (and the conversions and their two carry-overs)
    assert levelled == (tuple(range(inputs)) if features == "level" else ())  # not the calendar's
    test = forecaster.test_forecast()
    scored = json.loads((model / "metrics.json").read_text())["model"]["test_mae"]
    assert np.mean(np.abs(test.forecast - test.dataset.actuals("test"))) == pytest.approx(scored, rel=1e-9)

    sales = pd.read_csv(tmp_path / "sales.csv")
    rows = test.dataset.windows("test").target_rows
    for sample in (len(rows) // 2, 0, len(rows) - 1):
        cut = tmp_path / f"cut-{sample}.csv"
        cut_before(sales, rows[sample], horizon, known).to_csv(cut, index=False)
        if sample == len(rows) // 2:  # through the command once; the same code in-process for the ends
            run = tuner("predict", str(model), str(cut), "-o", str(tmp_path / "forecast.csv"))
            assert run.returncode == 0, run.stderr
            predicted = pd.read_csv(tmp_path / "forecast.csv")
        else:
            predicted = forecaster.forecast(cut)
        assert predicted["date"].tolist() == sales["date"].iloc[rows[sample] : rows[sample] + horizon].tolist()
        np.testing.assert_allclose(predicted["sales_forecast"].to_numpy(), test.forecast[sample], rtol=1e-5)


def test_every_window_length_forecasts_the_same_validation_and_test_rows(tmp_path):
    config = load_config(write_study(tmp_path, days=200), ["search.window=[7, 14, 28]"])
    dataset = tuning_folds(config)[0]
    for part in ("validation", "test"):
        rows = [dataset.windows(part, window).target_rows for window in config.search.window]
        assert all(np.array_equal(rows[0], other) for other in rows[1:])
    run = tuner("tune", str(config.source), "--set", "search.window=[14, 400]", "--n-trials", "1")
    assert run.returncode == 2
    assert "needs at least the longest search.window + data.horizon = 401" in run.stderr


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A study of 3 trials that searched the window, scaling, feature scaling and loss, with their
    weights stored."""
    folder = tmp_path_factory.mktemp("searched")
    config = write_study(folder, days=220, epochs=2)
    text = config.read_text().replace("[search]\n", "[search]\nwindow = [7, 14]\nscaling = ['window', 'global']\n"
                                      "loss = ['mae', 'huber']\nfeature_scaling = ['global', 'level']\n", 1)
    config.write_text(text)
    run = tuner("tune", str(config), "--n-trials", "3", "--no-progress")
    assert run.returncode == 0, run.stderr
    return config


def predicted(model, csv) -> np.ndarray:
    run = tuner("predict", str(model), str(csv))
    assert run.returncode == 0, run.stderr
    return pd.read_csv(io.StringIO(run.stdout))["sales_forecast"].to_numpy()


def test_fit_from_a_trials_weights_and_an_ensemble_of_them(searched, tmp_path):
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{searched.parent / 'small.db'}")
    trials = sorted(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)), key=lambda t: t.value)
    assert all({"window", "scaling", "feature_scaling", "loss"} <= set(t.params) and "weights_artifact" in t.user_attrs
               for t in trials)
    networks_alone = ["--set", "fit.members=['networks']"]  # each model would choose its own weights
    for trial in trials[:2]:
        run = tuner("fit", str(searched), "--from-trial", str(trial.number), "-o", str(tmp_path / f"t{trial.number}"),
                    *networks_alone)
        assert run.returncode == 0, run.stderr
        manifest = json.loads((tmp_path / f"t{trial.number}" / "model.json").read_text())
        assert manifest["scaled_on"] == "train" and manifest["members"]["networks"]["state"]["networks"][0]["window"] == trial.params["window"]
    run = tuner("fit", str(searched), "--ensemble", "2", "--from-trial", "-o", str(tmp_path / "ensemble"), *networks_alone)
    assert run.returncode == 0, run.stderr
    assert "each a networks candidate (fit.configs = 2)" in run.stdout
    ensemble = Forecaster.load(tmp_path / "ensemble")
    assert list(ensemble.members)[:2] == ["networks", "networks_2"] and set(ensemble.backtest) == {"networks", "networks_2", "model"}
    assert sum(ensemble.weights.values()) == pytest.approx(1.0)
    assert ensemble.backtest["model"] <= min(ensemble.backtest["networks"], ensemble.backtest["networks_2"]) + 1e-9
    sales = searched.parent / "sales.csv"
    members = {name: predicted(tmp_path / f"t{trial.number}", sales) for name, trial in zip(["networks", "networks_2"], trials)}
    np.testing.assert_allclose(predicted(tmp_path / "ensemble", sales),
                               sum(ensemble.weights.get(name, 0) * values for name, values in members.items()), rtol=1e-5)

    run = tuner("fit", str(searched), "--ensemble", "2", "--combine", "median", "-o", str(tmp_path / "refit"),
                "--no-intervals", "--ets-weight", "0", "--seeds", "2")
    assert run.returncode == 0, run.stderr
    assert "each a networks candidate (fit.configs = 2), median of 2 seeds each (--seeds)" in run.stdout
    refit = Forecaster.load(tmp_path / "refit")
    assert [network.seed for network in refit.all_networks] == [1, 2, 1, 2] and refit.seeds == 2
    assert (tmp_path / "refit" / "networks_2-weights-2.pt").is_file()
    run = tuner("report", str(searched), "--model", str(tmp_path / "refit"), "-o", str(tmp_path / "report.html"))
    assert run.returncode == 0, run.stderr
    assert "networks #2 (weight" in (tmp_path / "report.html").read_text()
    assert "(median of 2 seeds each)" in refit.label
    run = tuner("fit", str(searched), "--from-trial", "--seeds", "2", "-o", str(tmp_path / "x"))
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "--seeds 2: --from-trial takes each trial's own network, trained once" in run.stderr
    run = tuner("fit", str(searched), "--ensemble", "4", "-o", str(tmp_path / "x"), "--no-intervals")
    assert run.returncode == 2 and "fit.configs = 4 (--ensemble): study 'small' has only 3 completed trial(s)" in run.stderr


def test_a_refit_trains_several_seeds_and_forecasts_their_mean(tmp_path):
    """`fit.seeds = 3`: three networks of the same parameters, trained with the seeds study.seed,
    +1, +2 (the first the same network as `--seeds 1` trains), forecasting their mean, whose MAE
    is no more than theirs on average; a backtest window trains each with its own seed again."""
    config = load_config(write_study(tmp_path, days=220, extra=PARAMS), ["fit.seeds=3", "fit.members=['networks']"])
    single, _ = Forecaster.fit(config, config.params, seeds=1, intervals=False)  # --seeds 1 over the config's 3
    assert single.seeds == 1 and single.label == "lstm_transformer"
    fitted, test = Forecaster.fit(config, config.params, intervals=False)
    networks = fitted.networks.networks
    assert [network.seed for network in networks] == [1, 2, 3] and fitted.seeds == 3
    first, second = (network.network.state_dict() for network in networks[:2])
    assert all(torch.equal(first[key], value) for key, value in single.network.state_dict().items())
    assert not all(torch.equal(first[key], second[key]) for key in first)
    dataset, actual = test.dataset, test.dataset.actuals("test")
    alone = [Networks([network]).forecast_part(dataset, "test") for network in networks]
    np.testing.assert_allclose(test.forecast, np.mean(alone, axis=0), rtol=1e-5)
    assert np.abs(actual - test.forecast).mean() <= np.mean([np.abs(actual - one).mean() for one in alone])

    fitted.save(tmp_path / "model")
    loaded = Forecaster.load(tmp_path / "model")
    assert [network.seed for network in loaded.networks.networks] == [1, 2, 3]
    assert loaded.label == "lstm_transformer (mean of 3 seeds)"

    window = Dataset.folds(load_frame(config.data), config.data, config.split, (config.data.window,))[0]
    trial = with_params(config, config.params.trial_params())
    pair = Networks.fit(window, "train", Recipe((trial, trial), (config.params,) * 2, (1, 2)))
    each = [Networks.fit(window, "train", Recipe((trial,), (config.params,), (seed,))).forecast_part(window, "validation")
            for seed in (1, 2)]
    assert not np.allclose(each[0], each[1])
    np.testing.assert_allclose(pair.forecast_part(window, "validation"), np.mean(each, axis=0), rtol=1e-5)


def test_from_trial_weighs_its_own_networks_beside_members_fitted_on_the_train_part(searched, tmp_path):
    """Beside a trial's own networks (trained on the train part), the other members are fitted on
    train + validation for the forecast and the test table; on the backtest (the validation part)
    they are fitted on the train part only, as the networks were, and the intervals' residuals are
    the ensemble's there."""
    url = f"sqlite:///{searched.parent / 'small.db'}"
    config = load_config(searched)
    study = optuna.load_study(study_name="small", storage=url)
    chosen, weights = fitted_trials(study, config, url, 1, -1, tmp_path)
    fitted, test = Forecaster.fit(config, chosen, trial_weights=weights)
    dataset = test.dataset
    assert fitted.scaled_on == "train"
    on_train_and_validation = Boosting.fit(dataset.windows("train+validation"))
    for part in ("test", "validation"):
        np.testing.assert_allclose(fitted.members["boosting"].boosting.predict_windows(dataset.windows(part)),
                                   on_train_and_validation.predict_windows(dataset.windows(part)))
    assert fitted.metrics["boosting"]["test_mae"] == pytest.approx(
        np.mean(np.abs(dataset.actuals("test") - test.members["boosting"])))
    candidates = tuple(name for name in fitted.backtest if name != "model")
    backtest = own_weights_backtest(dataset, {"networks": fitted.networks}, None, candidates)
    held_out = Boosting.fit(dataset.windows("train")).predict_windows(dataset.windows("validation"))
    np.testing.assert_allclose(backtest.forecasts[0]["boosting"], dataset.to_units(held_out, "validation"))
    expected_residuals = dataset.actuals("validation") - weighted(backtest.forecasts[0], fitted.weights)
    np.testing.assert_allclose(fitted.calibration.residuals, expected_residuals, rtol=1e-6)
    assert fitted.backtest["model"] == pytest.approx(np.abs(expected_residuals).mean())


def test_from_trial_needs_stored_weights(searched, tmp_path):
    config = load_config(searched, ["study.name='unstored'"])
    study = optuna.create_study(study_name="unstored", storage=f"sqlite:///{searched.parent / 'small.db'}")
    study.optimize(Objective(config, tuning_folds(config)), n_trials=1)  # no artifact store: no weights
    run = tuner("fit", str(searched), "--study", "unstored", "--storage", f"sqlite:///{searched.parent / 'small.db'}",
                "--from-trial", "-o", str(tmp_path / "m"))
    assert run.returncode == 2
    assert "trial #0 of study 'unstored' has no stored weights" in run.stderr


@pytest.mark.parametrize("transform", ["log", "seasonal"])
def test_a_searched_transform_scales_each_trial_its_own_way_and_an_ensemble_needs_one(tmp_path, transform):
    path = write_study(tmp_path, days=220, epochs=2)
    path.write_text(path.read_text().replace("[search]\n", f"[search]\ntransform = ['none', '{transform}']\n", 1))
    config = load_config(path)
    study = optuna.create_study(study_name="small", storage=f"sqlite:///{tmp_path / 'small.db'}")
    for value in (transform, "none"):
        study.enqueue_trial({"transform": value, "model": "lstm"})
    objective = Objective(config, tuning_folds(config))
    study.optimize(objective, n_trials=2)
    trials = {t.params["transform"]: t for t in study.trials}
    assert set(trials) == {transform, "none"}
    own, plain = objective.evaluator.variants[(transform, 1)][0].scaling, objective.evaluator.folds[0].scaling
    assert (own.log, own.seasonal is not None) == (transform == "log", transform == "seasonal")
    assert not plain.log and plain.seasonal is None
    again = Evaluator(config, tuning_folds(config)).evaluate(trials[transform].params,
                                                             config.study.seed + trials[transform].number)
    assert again.errors["val_mae"] == pytest.approx(trials[transform].value, rel=1e-6)  # trained on its own scaling

    run = tuner("fit", str(path), "--ensemble", "2", "-o", str(tmp_path / "both"), "--no-intervals")
    assert run.returncode == 2
    values = ", ".join(sorted((transform, "none")))
    assert f"fit.configs = 2: its trials were tuned with different data.transform values ({values})" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    run = tuner("fit", str(path), "-o", str(tmp_path / "best"), "--no-intervals", "--ets-weight", "0")
    assert run.returncode == 0, run.stderr
    best = min(trials.values(), key=lambda t: t.value)
    manifest = json.loads((tmp_path / "best" / "model.json").read_text())
    assert manifest["scaler"]["transform"] == best.params["transform"]


def test_searched_calendar_harmonics_give_each_trial_its_own_calendar_columns(tmp_path):
    path = write_study(tmp_path, days=220, epochs=2)
    path.write_text(path.read_text().replace("[search]\n", "[search]\ncalendar_harmonics = [1, 3]\n", 1)
                    .replace("[data]\n", "[data]\ncalendar = ['day_of_week', 'month']\n", 1))
    config = load_config(path)
    study = optuna.create_study(study_name="small", storage=f"sqlite:///{tmp_path / 'small.db'}")
    for harmonics in (3, 1):
        study.enqueue_trial({"calendar_harmonics": harmonics, "model": "lstm"})
    objective = Objective(config, tuning_folds(config))
    study.optimize(objective, n_trials=2)
    trials = {t.params["calendar_harmonics"]: t for t in study.trials}
    three = objective.evaluator.variants[("none", 3)][0].config.columns
    assert three == [*config.data.features, *with_params(config, {"calendar_harmonics": 3}).data.calendar_columns,
                     "sales"] and "month_cos3" in three
    assert len(three) == len(objective.evaluator.folds[0].config.columns) + 8  # two more pairs each
    again = Evaluator(config, tuning_folds(config)).evaluate(trials[3].params, config.study.seed + trials[3].number)
    assert again.errors["val_mae"] == pytest.approx(trials[3].value, rel=1e-6)

    members = [ParamsConfig(**{**t.params, "epochs": 1}) for t in trials.values()]
    with pytest.raises(ConfigError, match=r"different data.calendar_harmonics values \(1, 3\)"):
        Forecaster.fit(config, members, intervals=False)
    fitted, _ = Forecaster.fit(config, members[0], intervals=False)
    assert "month_cos3" in fitted.config.data.columns
    assert fitted.network.lstm.input_size == len(three) + 1  # and the flag that marks the forecast steps
