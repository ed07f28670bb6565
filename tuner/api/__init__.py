"""The Python API (exported by `tuner/__init__.py`): `study.py` tunes and reads studies, `fit.py`
fits a forecaster from a config or a study, `model.py` holds a fitted one (predict, what-if,
report, save, load), `inputs.py` takes configs and DataFrames, `scope.py` leaves the process as
it found it, `demo.py` makes the demo data."""
