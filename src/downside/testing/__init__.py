"""Test suites shipped with downside, for code written against its contracts.

:mod:`downside.testing.connectors` holds the contract suite every live connector of
:mod:`downside.sources.live` passes: a third party writing a connector runs the same
suite on theirs. :mod:`downside.testing.store` holds the one every point-in-time store
passes (idempotence, as-of reads, stitching, versions, verify and rollback).
:mod:`downside.testing.estimators` holds the one every estimator of
:mod:`downside.models` passes: scikit-learn's common checks, with those its tags rule out
listed with their reason, plus checks on frames (import it from there; it is not
re-exported, so importing this package does not import the models). They need pytest (a
dev dependency of downside, not a runtime one): ``pip install pytest``. pytest is
imported only when a suite runs under it.
"""

from downside.testing.connectors import (
    CONTRACT_NOW,
    FAILURE_MODES,
    Answer,
    AnswerFunction,
    ConnectorCase,
    ConnectorContract,
    LocalServer,
)
from downside.testing.store import StoreContract, StoreLike

__all__ = [
    "CONTRACT_NOW",
    "FAILURE_MODES",
    "Answer",
    "AnswerFunction",
    "ConnectorCase",
    "ConnectorContract",
    "LocalServer",
    "StoreContract",
    "StoreLike",
]
