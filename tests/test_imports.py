"""The Optuna boundary is a package boundary: only `tuner/tuning/` imports optuna, so fit, predict
and whatif never load it; the study readers (best, report) never load torch; and tuning never
loads skops."""

import ast
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_study

from tuner.config.loading import load_config
from tuner.tuning.runner import tune

PACKAGE = Path(__file__).resolve().parents[1] / "tuner"
PARAMS = '\n[params]\nmodel = "lstm"\nhidden_size = 8\nlr = 0.002\nepochs = 1\n'


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_tuning_package_imports_optuna():
    outside = [path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
               if "tuning" not in path.relative_to(PACKAGE).parts and "optuna" in imported_modules(path)]
    assert outside == []


def run_tuner(args: list[str]) -> tuple[str, dict[str, bool], str]:
    """Run `tuner ARGS` in a fresh interpreter: its exit status, which of optuna and torch it
    loaded, and its standard error."""
    code = ("import sys; from tuner.cli.parser import main; status = main(sys.argv[1:]); "
            "print(status, 'optuna' in sys.modules, 'torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    status, optuna, torch = run.stdout.split()[-3:]
    return status, {"optuna": optuna == "True", "torch": torch == "True"}, run.stderr


def loaded_after(args: list[str]) -> dict[str, bool]:
    """Which of optuna and torch `tuner ARGS` loaded; it must succeed."""
    status, loaded, stderr = run_tuner(args)
    assert status == "0", stderr
    return loaded


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A config with fixed [params] and a known-future input, one tuned trial, and a file whose
    last row is the plan for the next day."""
    folder = tmp_path_factory.mktemp("imports")
    config = write_study(folder, days=200, epochs=1, extra=PARAMS)
    config.write_text(config.read_text().replace("[data]\n", '[data]\nknown_future = ["ad_impressions"]\n', 1))
    tune(load_config(config, ["study.n_trials=1"]), f"sqlite:///{folder / 'small.db'}", progress=False)
    sales = pd.read_csv(folder / "sales.csv")
    next_day = (pd.Timestamp(sales["date"].iloc[-1]) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    plan = pd.DataFrame({"date": [next_day], "ad_impressions": [50_000]})
    pd.concat([sales, plan]).to_csv(folder / "plan.csv", index=False)
    return config


def test_fit_predict_and_whatif_do_not_load_optuna(study, tmp_path):
    model, plan = str(tmp_path / "model"), str(study.parent / "plan.csv")
    assert loaded_after(["fit", str(study), "-o", model]) == {"optuna": False, "torch": True}
    assert loaded_after(["predict", model, plan, "-o", str(tmp_path / "f.csv")]) == {"optuna": False, "torch": True}
    assert loaded_after(["whatif", model, plan, "--scale", "ad_impressions=0.5,1"]) == {"optuna": False, "torch": True}


def test_best_and_report_do_not_load_torch(study, tmp_path):
    assert loaded_after(["best", str(study)]) == {"optuna": True, "torch": False}
    assert loaded_after(["report", str(study), "-o", str(tmp_path / "r.html")]) == {"optuna": True, "torch": False}


@pytest.mark.parametrize("command", ["tune", "fit", "best", "export", "report", "dashboard"])
def test_a_bad_config_is_reported_before_torch_or_optuna_load(tmp_path, command):
    config = tmp_path / "study.toml"
    config.write_text('[data]\npath = "sales.csv"\nwindow = 0\n')
    extra = {"fit": ["-o", str(tmp_path / "m")], "export": ["-o", str(tmp_path / "e.toml")],
             "report": ["-o", str(tmp_path / "r.html")]}.get(command, [])
    status, loaded, stderr = run_tuner([command, str(config), *extra])
    assert status == "2" and loaded == {"optuna": False, "torch": False}
    assert "data.window = 0: must be greater than 0" in stderr


def test_tuning_does_not_load_skops():
    """skops imports every scikit-learn estimator (about a second): only saving and loading a
    model directory's boosting member needs it, never a tuning worker's start-up."""
    code = "import sys, tuner.tuning.runner, tuner.ensemble.forecaster; print('skops' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.stdout.split()[-1] == "False", run.stderr


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def eager_imports(path: Path) -> set[str]:
    """The tuner modules `path` imports when it loads, or behind TYPE_CHECKING (not inside functions):
    `from tuner.a import b` counts as tuner.a and, where b is a module, tuner.a.b."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` (module -> the modules it imports), as the modules along it; None if none."""
    state: dict[str, str] = {}
    path: list[str] = []

    def walk(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                return path[path.index(imported):] + [imported]
            if imported not in state and (cycle := walk(imported)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    return next((cycle for module in sorted(graph) if module not in state and (cycle := walk(module))), None)


def test_the_package_has_no_import_cycle():
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: {m for m in eager_imports(path) if m in modules and m != name} for name, path in modules.items()}
    assert import_cycle(graph) is None, " -> ".join(import_cycle(graph))
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]  # the check finds one
