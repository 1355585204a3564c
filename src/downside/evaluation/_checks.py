"""Validation of probability and label arrays shared by every metric."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from downside.errors import ModelInputError, Problem

FloatArray = npt.NDArray[np.float64]


def _examples(values: FloatArray, mask: npt.NDArray[np.bool_]) -> tuple[str, ...]:
    return tuple(f"row {int(i)}: {values[i]!r}" for i in np.flatnonzero(mask)[:3])


def probability_problems(name: str, values: FloatArray) -> list[Problem]:
    """Problems of one probability vector: non-finite values and values outside [0, 1]."""
    problems: list[Problem] = []
    bad = ~np.isfinite(values)
    if bad.any():
        problems.append(
            Problem(
                name,
                "non_finite",
                int(bad.sum()),
                "expected finite probabilities, received NaN or infinity",
                _examples(values, bad),
            )
        )
    outside = np.isfinite(values) & ((values < 0.0) | (values > 1.0))
    if outside.any():
        problems.append(
            Problem(
                name,
                "outside_unit_interval",
                int(outside.sum()),
                "expected probabilities in [0, 1]",
                _examples(values, outside),
            )
        )
    return problems


def label_problems(name: str, values: FloatArray) -> list[Problem]:
    """Problems of one label vector: anything other than 0 and 1."""
    bad = ~np.isin(values, (0.0, 1.0))
    if not bad.any():
        return []
    return [
        Problem(
            name,
            "non_binary_labels",
            int(bad.sum()),
            "expected labels 0 or 1",
            _examples(values, bad),
        )
    ]


def as_float_vector(name: str, values: Any, problems: list[Problem]) -> FloatArray:
    """Convert ``values`` to a 1-d float64 array, recording a problem when impossible."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        problems.append(Problem(name, "not_numeric", 1, f"expected numbers, received {exc}"))
        return np.empty(0, dtype=np.float64)
    if array.ndim != 1:
        problems.append(
            Problem(name, "wrong_shape", 1, f"expected a 1-d array, received shape {array.shape}")
        )
        return array.reshape(-1)
    return array


def check_probabilities_and_labels(
    probabilities: dict[str, Any], y: Any
) -> tuple[list[FloatArray], FloatArray]:
    """Validate named probability vectors and one label vector of the same length.

    Args:
        probabilities: name to probability vector.
        y: binary labels.

    Returns:
        The probability vectors (in the order given) and the labels, as float64 arrays.

    Raises:
        ModelInputError: with every problem found (shape, length, range, labels, empty input).
    """
    problems: list[Problem] = []
    labels = as_float_vector("y", y, problems)
    vectors = [as_float_vector(name, p, problems) for name, p in probabilities.items()]
    if not problems:
        problems.extend(label_problems("y", labels))
        if labels.size == 0:
            problems.append(Problem("y", "empty", 0, "expected at least one row, received none"))
        for (name, _), vector in zip(probabilities.items(), vectors, strict=True):
            if vector.shape != labels.shape:
                problems.append(
                    Problem(
                        name,
                        "length_mismatch",
                        1,
                        f"expected {labels.size} values (as many as y), received {vector.size}",
                    )
                )
            else:
                problems.extend(probability_problems(name, vector))
    if problems:
        raise ModelInputError(problems)
    return vectors, labels
