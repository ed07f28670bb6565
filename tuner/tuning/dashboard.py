"""optuna-dashboard on a study's storage, with the trials' stored weights listed beside them."""

from __future__ import annotations

import optuna
import optuna_dashboard

from tuner.tuning.storage import ArtifactStore


def serve_dashboard(storage: optuna.storages.BaseStorage, host: str, port: int, artifacts: ArtifactStore) -> None:
    """Serve until interrupted (optuna-dashboard has no authentication: keep `host` local)."""
    optuna_dashboard.run_server(storage, host=host, port=port, artifact_store=artifacts)
