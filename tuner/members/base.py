"""What every member of a fitted forecaster is: a forecaster of its own, fitted on one part of
the data, that forecasts a split part or one series from the end of a CSV in the data's units,
and writes its state as JSON (and its files) into a model directory without pickle.

A kind of member (`Kind`) names itself, says whether it can serve this data and whether it reads
the plans of data.known_future, fits a member and loads a saved one. `tuner.members` registers
every kind; `tuner.ensemble` weighs them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from tuner.config.schema import Config, DataConfig, ParamsConfig
from tuner.errors import ModelDirError

if TYPE_CHECKING:
    from tuner.data.dataset import Dataset
    from tuner.data.inputs import ForecastInputs


class Member(Protocol):
    """A fitted member."""

    name: str

    def forecast_part(self, dataset: Dataset, part: str) -> np.ndarray:
        """(samples, horizon): every sample of `part`, in the data's units."""

    def forecast_series(self, inputs: ForecastInputs, plan: pd.DataFrame, data: DataConfig) -> np.ndarray:
        """(horizon,): one series from the end of its history, under `plan`, in the data's units."""

    def save(self, folder: Path) -> dict[str, Any]:
        """Its files written into `folder`; its state (with their names and checksums) as JSON."""


@dataclass(frozen=True)
class Recipe:
    """What fitting the networks takes besides the data (the other members need the data only):
    one run per configuration and seed."""

    configs: tuple[Config, ...]  # each run's config, with its trial's settings
    params: tuple[ParamsConfig, ...]  # each run's trial parameters
    seeds: tuple[int | None, ...]  # each run's training seed; None: a trial's own network, trained once
    combine: str = "mean"  # how the runs' forecasts are combined
    member: str = "networks"  # the networks member they make (`names.networks_member`)


def serves_any(dataset: Dataset) -> str | None:
    """A member that serves every data set."""
    return None


@dataclass(frozen=True)
class Kind:
    """One kind of member: what the registry knows of it."""

    name: str  # as in `names.MEMBERS`, config keys, flags and model.json
    reads_plans: bool  # whether its forecast answers the plans of data.known_future
    fit: Callable[[Dataset, str, Recipe], Member]  # fitted on a split part ("train", "train+validation")
    load: Callable[[Path, dict[str, Any]], Member]  # from `Member.save`'s state and files
    unserved: Callable[[Dataset], str | None] = serves_any  # why it cannot serve this data; None: it can


T = TypeVar("T")


def from_state(build: Callable[[Any], T], state: Any, folder: Path, what: str) -> T:
    """`build(state)`, or a one-line error naming `what` member of model.json is damaged."""
    try:
        return build(state)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelDirError(f"{folder / 'model.json'}: its {what} member is damaged ({exc!r}); fit the model again") from None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def saved_file(folder: Path, name: str) -> dict[str, str]:
    """A member file's entry in its state: its name and checksum."""
    return {"file": name, "sha256": sha256(folder / name)}


def checked_file(folder: Path, state: dict[str, Any]) -> Path:
    """The member file `state` names, present and matching its checksum; else a one-line error."""
    path = folder / state["file"]
    if not path.is_file():
        raise ModelDirError(f"{folder}: incomplete model directory, missing {state['file']}; fit it again")
    if sha256(path) != state.get("sha256"):
        raise ModelDirError(f"{path}: checksum does not match model.json; the file was changed or damaged")
    return path
