"""Device selection on a CPU-only machine: `auto` resolves to the CPU, a device the machine lacks
is refused naming the key, workers are placed round-robin over (faked) GPUs, and a model
directory's weights load onto the CPU whatever device they were saved from, and a finished
trial leaves no tensors behind (what makes device memory creep on a GPU)."""

import gc
import os
import re
import warnings

import optuna
import pytest
import torch
from conftest import tuner, write_study

from tuner.config.loading import load_config
from tuner.data.dataset import Dataset
from tuner.errors import ConfigError
from tuner.networks.device import resolve_device, worker_devices
from tuner.tuning.objective import Objective
from tuner.tuning.runner import placement_lines, visible_gpu


def test_auto_takes_cuda_when_present_else_the_cpu():
    assert resolve_device("auto", count=0) == torch.device("cpu")
    assert resolve_device("auto", count=2) == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("device, precision, count, message", [
    ("cuda", "32", 0, r'^train.device = "cuda": this machine has no CUDA device; use "auto" or "cpu"$'),
    ("cuda:2", "32", 2, r'^train.device = "cuda:2": no such device; this machine has 2 CUDA device\(s\), cuda:0 to cuda:1$'),
    ("cpu", "bf16", 0, r'^train.precision = "bf16": bf16 autocast is used on CUDA only, and this run trains on cpu'),
    ("auto", "bf16", 0, r'^train.precision = "bf16": bf16 autocast is used on CUDA only'),
])
def test_a_device_the_machine_lacks_is_refused_naming_the_key(device, precision, count, message):
    with pytest.raises(ConfigError, match=message):
        resolve_device(device, precision, count=count)


def test_workers_are_placed_round_robin_over_the_gpus():
    assert worker_devices(4, "auto", (), count=2) == ["0", "1", "0", "1"]
    assert worker_devices(3, "cuda", (1, 3), count=4) == ["1", "3", "1"]
    assert worker_devices(2, "cuda:1", (), count=2) == ["1", "1"]
    assert worker_devices(2, "auto", (), count=0) == [None, None]
    assert worker_devices(2, "cpu", (), count=2) == [None, None]
    assert placement_lines(["0", "1"], 8) == ["worker 1: GPU 0", "worker 2: GPU 1"]
    assert placement_lines([None], 4) == ["worker 1: CPU, 4 thread(s)"]


@pytest.mark.parametrize("listed, count, message", [
    ((0, 2), 2, r"^--devices 0,2: no GPU 2; this machine has 2 CUDA device\(s\), 0 to 1$"),
    ((0,), 0, r"^--devices 0: this machine has no CUDA device$"),
])
def test_devices_that_are_not_there_are_refused(listed, count, message):
    with pytest.raises(ConfigError, match=message):
        worker_devices(2, "auto", listed, count=count)


def test_each_worker_sees_only_its_own_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with visible_gpu("1"):
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusals of a machine without CUDA")
@pytest.mark.parametrize("args, message", [
    (["--set", "train.device='cuda'"], r'train.device = "cuda": this machine has no CUDA device'),
    (["--set", "train.device='cuda:1'"], r'train.device = "cuda:1": this machine has no CUDA device'),
    (["--set", "train.precision='bf16'"], r'train.precision = "bf16": bf16 autocast is used on CUDA only'),
    (["--workers", "2", "--devices", "0,1"], r"--devices 0,1: this machine has no CUDA device"),
    (["--set", "train.device='gpu'"], r"train.device = 'gpu': must be one of auto, cpu, cuda, cuda:N, mps"),
])
def test_tune_refuses_devices_the_machine_lacks_in_one_line(tmp_path, args, message):
    config = write_study(tmp_path)
    done = tuner("tune", str(config), "--n-trials", "1", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and re.search(message, done.stderr), done.stderr


def test_weights_saved_from_another_device_load_on_the_cpu(tmp_path, monkeypatch):
    """torch.save keeps each tensor's device; a model directory is read with map_location="cpu",
    so weights written on a GPU load here. Simulated: tensors saved as if from cuda:0."""
    from tuner.ensemble import modeldir

    calls = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs.get("map_location"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    config = load_config(write_study(tmp_path, epochs=1))
    from tuner.config.schema import ParamsConfig
    from tuner.ensemble.forecaster import Forecaster

    Forecaster.fit(config, ParamsConfig(model="lstm", hidden_size=8, epochs=1))[0].save(tmp_path / "m")
    loaded = modeldir.load(tmp_path / "m")
    assert calls and all(location == "cpu" for location in calls)
    assert next(loaded.network.parameters()).device == torch.device("cpu")


def live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():  # isinstance on torch's deprecated module aliases warns
        warnings.simplefilter("ignore", FutureWarning)
        return sum(1 for obj in gc.get_objects() if isinstance(obj, torch.Tensor))


def test_a_finished_trial_leaves_no_tensors_behind(tmp_path):
    """Device memory creeps from trial to trial when something keeps a trial's tensors (its
    network, optimizer state or data copies) alive after it; counted here on the CPU."""
    config = load_config(write_study(tmp_path, epochs=2))
    objective = Objective(config, [Dataset.from_config(config.data, config.split)],
                          artifacts=optuna.artifacts.FileSystemArtifactStore(str(tmp_path)))
    before = live_tensors()
    after_each: list[int] = []
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0))
    study.optimize(objective, n_trials=5, callbacks=[lambda study, trial: after_each.append(live_tensors())])
    assert {trial.params["model"] for trial in study.trials} == {"lstm", "lstm_transformer"}
    assert after_each == [before] * 5
