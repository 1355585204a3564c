"""The LightGBM search space, as a plain function of an Optuna trial."""

from __future__ import annotations

from typing import Any

import optuna


def search_space(trial: optuna.Trial) -> dict[str, Any]:
    """Sample LightGBM parameters for one trial.

    Ranges favour strong regularisation: daily crash labels are few and overlapping, and
    one as-of day contributes a row per grid cell, so small trees with thousands of rows
    per leaf generalise better than deep ones. Calibration (none, or Platt on the last block
    of training time) is chosen on the purged walk-forward folds like every other
    parameter; isotonic maps stay out of the search because their steps flatten the
    surface into a few repeated values (a spec can still ask for them).
    """
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 400, step=50),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 3, 15, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 500, 8000, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1.0, 300.0, log=True),
        "min_gain_to_split": trial.suggest_float("min_gain_to_split", 0.0, 1.0),
        "calibration": trial.suggest_categorical("calibration", ["none", "platt"]),
    }
