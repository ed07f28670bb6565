from dataclasses import fields
from pathlib import Path

import pytest
from conftest import DEMO_CONFIG

from tuner.config.loading import load_config
from tuner.errors import ConfigError
from tuner.tuning.storage import resolve_storage_url


def test_demo_config_loads_with_data_path_relative_to_file():
    config = load_config(DEMO_CONFIG)
    assert config.data.path == DEMO_CONFIG.parent / "ecommerce_daily.csv"
    assert config.data.columns[-1] == "sales"
    assert config.data.seasonality == 7
    assert config.data.how_to_aggregate("ad_impressions") == "sum"
    assert config.data.how_to_aggregate("ctr") == "mean"


def test_set_overrides_are_typed_and_win_over_the_file():
    config = load_config(DEMO_CONFIG, ["train.epochs=5", "data.frequency=W", "search.hidden_size=[16, 32]"])
    assert config.train.epochs == 5
    assert config.data.frequency == "W"
    assert config.search.hidden_size == (16, 32)


def test_dedicated_flag_values_win_over_set():
    config = load_config(DEMO_CONFIG, ["study.n_trials=3"], {"study.n_trials": 7})
    assert config.study.n_trials == 7


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text('[data]\npath = "x.csv"\n' + text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("[trian]\n", r"unknown section 'trian'; did you mean 'train'\?"),
        ("[train]\nepoch = 3\n", r"\[train\]: unknown key 'epoch'; did you mean 'epochs'\?"),
        ("[train]\nepochs = 'many'\n", r"train.epochs = 'many': expected an integer"),
        ("[search]\nlr = { low = 1e-3, high = 1e-4 }\n", r"search.lr = .*low must not exceed high"),
        ("[search]\ndropout = { low = 0.1, high = 1.0 }\n", r"search.dropout = .*must lie in \[0, 1\)"),
        ("[search]\nhidden_size = [30]\nnum_heads = [4]\n", r"4 heads do not divide hidden_size 30"),
        ("[split]\ntrain = 0.8\nvalidation = 0.2\n", r"must be below 1 to leave a test part"),
        ("[study]\nsampler = 'tpee'\n", r"study.sampler = 'tpee': must be one of tpe, random; did you mean 'tpe'\?"),
        ("[study]\npruner = 'asha'\n", r"study.pruner = 'asha': must be one of median, percentile, hyperband, successive_halving, wilcoxon, none"),
        ("[study]\nmetric = 'mae'\n", r"study.metric = 'mae': must be one of val_mae.*did you mean 'val_mae'\?"),
        ("[data]\n", r"not valid TOML"),
        ("[search]\nhidden_size = []\n", r"search.hidden_size = \[\]: must list at least one choice"),
        ("[train]\nloss = 'l1'\n", r"train.loss = 'l1': must be one of mae, mse, huber"),
        ("[train]\nrefit_seeds = 0\n", r"fit.seeds = 0: must be greater than 0"),
        ("[fit]\nmembers = ['networks', 'arima']\n", r"fit.members = 'arima': must be one of networks, boosting"),
        ("[fit]\nweights = { ets = -0.1 }\n", r"fit.weights.ets = -0.1: must lie between 0 \(left out\) and 1"),
        ("[fit]\nweights = { ets = 0.6, linear = 0.6 }\n", r"fit.weights = .*the fixed shares sum to 1.2, more than 1"),
        ("[fit]\nmembers = ['networks']\nweights = { ets = 0.2 }\n",
         r"fit.weights.ets = 0.2: names a member that fit.members leaves out"),
        ("[fit]\nbacktest_windows = 0\n", r"fit.backtest_windows = 0: must be greater than 0"),
        ("[fit]\ncombine = 'max'\n", r"fit.combine = 'max': must be one of mean, median"),
        ("[search]\nloss = ['mae', 'pinball']\n", r"search.loss = 'pinball': must be one of mae, mse, huber, quantile"),
        ("[search]\nscaling = ['revin']\n", r"search.scaling = 'revin': must be one of window, level, global"),
        ("[search]\nfeature_scaling = ['window']\n",
         r"search.feature_scaling = 'window': must be one of global, level"),
        ("feature_scaling = 'revin'\n", r"data.feature_scaling = 'revin': must be one of global, level"),
        ("[search]\ntransform = ['sqrt']\n", r"search.transform = 'sqrt': must be one of none, log"),
        ("[search]\nwindow = [14, 0]\n", r"search.window = 0: must be greater than 0"),
        ("[search]\ncalendar_harmonics = [1, 3]\n", r"search.calendar_harmonics = \[1, 3\]: needs data.calendar"),
        ("[search]\ncalendar_harmonics = [0]\n", r"search.calendar_harmonics = 0: must be greater than 0"),
        ("calendar = ['month']\ncalendar_harmonics = 'all'\n",
         r"data.calendar_harmonics = 'all': expected an integer"),
        ("features = ['ctr']\ninteractions = { ads = ['ctr'] }\n",
         r"data.interactions.ads = \['ctr'\]: must list at least two features: the column is their product"),
        ("features = ['ctr', 'cvr']\ninteractions = { ads = ['ctr', 'clicks'] }\n",
         r"data.interactions.ads = \['ctr', 'clicks'\]: 'clicks' is not in data.features"),
        ("features = ['ctr', 'cvr']\ninteractions = { ctr = ['ctr', 'cvr'] }\n",
         r"data.interactions.ctr = .*the new column 'ctr' is already a column of the file"),
        ("features = ['ctr']\ncarryover = { clicks = [3] }\n",
         r"data.carryover.clicks = \[3.0\]: 'clicks' is neither in data.features nor in data.interactions"),
        ("features = ['ctr']\ncarryover = { ctr = [3, 0] }\n",
         r"data.carryover.ctr = \[3.0, 0.0\]: must list one or more different half-lives, each greater than 0"),
        ("features = ['ctr']\ncarryover = { ctr = 3 }\n", r"data.carryover.ctr = 3: expected a list of numbers"),
        ("features = ['ctr', 'cvr']\ninteractions = { ads = ['ctr', 'cvr'] }\nknown_future = ['ads']\n",
         r"data.known_future = \['ads'\]: 'ads' is computed from the history .* plan the features it is computed from"),
        ("features = ['ctr']\ncarryover = { ctr = [3] }\nknown_future = ['ctr_carryover_3']\n",
         r"'ctr_carryover_3' is computed from the history"),
        ("features = ['ctr', 'ctr_carryover_3']\ncarryover = { ctr = [3] }\n",
         r"data.carryover = .*adds a column 'ctr_carryover_3', which the file or data.interactions already name"),
        ("features = ['ctr', 'cvr']\ninteractions = { month_sin = ['ctr', 'cvr'] }\ncalendar = ['month']\n",
         (r"data.calendar = \['month'\]: adds a column 'month_sin', which the file's columns \(data.features, "
          r"data.target\) or the computed ones \(data.interactions, data.carryover\) already name")),
        ("features = 'ctr'\n", r"data.features = 'ctr': expected a list of strings$"),
    ],
)
def test_config_errors_name_key_value_and_fix(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_set_on_unknown_key_suggests_the_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"--set train.epoch: unknown key 'epoch'; did you mean 'epochs'\?"):
        load_config(DEMO_CONFIG, ["train.epoch=3"])


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.toml: config file not found"):
        load_config(tmp_path / "nope.toml")


def test_storage_precedence(monkeypatch, tmp_path):
    config = load_config(DEMO_CONFIG)
    monkeypatch.delenv("TUNER_STORAGE", raising=False)
    assert resolve_storage_url(config) == f"sqlite:///{DEMO_CONFIG.parent / 'ecommerce_daily.db'}"
    with_file = load_config(DEMO_CONFIG, ["study.storage='sqlite:///other.db'"])
    assert resolve_storage_url(with_file) == f"sqlite:///{DEMO_CONFIG.parent / 'other.db'}"
    monkeypatch.setenv("TUNER_STORAGE", "sqlite:///env.db")
    assert resolve_storage_url(with_file) == "sqlite:///env.db"
    assert resolve_storage_url(with_file, "sqlite:///flag.db") == "sqlite:///flag.db"


def test_features_may_be_empty_for_a_target_only_model(tmp_path):
    assert load_config(write(tmp_path, "features = []\n")).data.columns == ["sales"]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    text = "[train]\nepochs = 0\nepoch = 3\n[study]\nsampler = 'tpee'\n[split]\ntrain = 'most'\n"
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'c.toml'}: ")
    for part in ("[train]: unknown key 'epoch'", "split.train = 'most': expected a number",
                 "train.epochs = 0: must be greater than 0", "study.sampler = 'tpee': must be one of tpe, random"):
        assert part in message
    assert "\n" not in message


def test_data_settings_of_scaling_calendar_and_holidays_are_checked(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[data]\npath = "x.csv"\nscaling = "instance"\ncalendar = ["weekday", "month"]\nholidays = "XX"\n'
                    'frequency = "M"\ntransform = "boxcox"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert "data.scaling = 'instance': must be one of window, level, global" in message
    assert "data.calendar = 'weekday': must be one of day_of_week" in message
    assert "data.holidays = 'XX': not a country the holidays package knows" in message
    assert "data.transform = 'boxcox': must be one of none, log" in message
    path.write_text('[data]\npath = "x.csv"\nfeatures = ["holiday"]\nholidays = "US"\n')
    with pytest.raises(ConfigError, match=r"data.holidays = 'US': adds a column 'holiday', which the file's columns"):
        load_config(path)


@pytest.mark.parametrize("metric, loss", [("val_mae", "mae"), ("val_wape", "mae"), ("val_rmse", "mse")])
def test_the_default_loss_follows_the_study_metric(tmp_path, metric, loss):
    assert load_config(write(tmp_path, f"[study]\nmetric = '{metric}'\n")).train.loss == loss
    assert load_config(write(tmp_path, f"[study]\nmetric = '{metric}'\n[train]\nloss = 'huber'\n")).train.loss == "huber"


def test_the_configuration_reference_is_generated_from_the_schema():
    from tuner.config.reference import render
    from tuner.config.schema import SECTIONS

    reference = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert reference == render(), "regenerate it: python -m tuner.config.reference > docs/configuration.md"
    for section, cls in SECTIONS.items():  # every key documented, with its default
        for spec in fields(cls):
            row = next(line for line in reference.splitlines() if line.startswith(f"| `{section}.{spec.name}` |"))
            assert not row.endswith("|  |"), f"{section}.{spec.name} has no comment in tuner/config/schema.py"


def test_the_autoregressive_skip_reads_its_older_name_linear_skip(tmp_path, caplog):
    """`linear_skip` named the skip before the linear member existed: an older config, a study's
    trials and stored settings, and a saved network's entries still read as `autoregressive_skip`."""
    import optuna

    from tuner.networks.models import model_config
    from tuner.tuning.study import changed_settings, params_of

    text = DEMO_CONFIG.read_text().replace("[search]\n", "[search]\nlinear_skip = [true, false]\n")
    (tmp_path / "study.toml").write_text(text.replace('path = "', f'path = "{DEMO_CONFIG.parent}/', 1))
    config = load_config(tmp_path / "study.toml")
    assert config.search.autoregressive_skip == (True, False)
    assert "search.linear_skip is an older key; read as search.autoregressive_skip" in caplog.text
    stored = {"search": {"linear_skip": [True, False]}}
    assert "search.autoregressive_skip" not in changed_settings(stored, config)

    params = {"model": "lstm", "hidden_size": 8, "num_layers": 1, "dropout": 0.0, "lr": 1e-3, "linear_skip": True}
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(
        params=params, value=1.0, user_attrs={"best_epoch": 3},
        distributions={"model": optuna.distributions.CategoricalDistribution(["lstm"]),
                       "hidden_size": optuna.distributions.CategoricalDistribution([8]),
                       "num_layers": optuna.distributions.IntDistribution(1, 2),
                       "dropout": optuna.distributions.FloatDistribution(0.0, 0.3),
                       "lr": optuna.distributions.FloatDistribution(1e-4, 1e-3, log=True),
                       "linear_skip": optuna.distributions.CategoricalDistribution([True, False])}))
    assert params_of(study, study.trials[0]).autoregressive_skip is True
    assert model_config(params, config.data).autoregressive_skip is True
