"""Features: declarative definitions, causal transforms and the point-in-time feature store.

``load_definitions(dir)`` reads the top-level ``features/*.toml`` files into a validated
:class:`FeatureSet`; :class:`FeatureStore` materialises the features per group from a
:class:`downside.store.Store`, caches them under the store root, and serves them as of
any time without look-ahead.
"""

from downside.features._definitions import (
    FAMILIES,
    FeatureDefinition,
    FeatureSet,
    InputRef,
    InputTerm,
    load_definitions,
)
from downside.features._store import FeatureStore
from downside.features._transforms import TRANSFORMS, ParamSpec, TransformSpec
from downside.features._windows import Window, parse_window

__all__ = [
    "FAMILIES",
    "TRANSFORMS",
    "FeatureDefinition",
    "FeatureSet",
    "FeatureStore",
    "InputRef",
    "InputTerm",
    "ParamSpec",
    "TransformSpec",
    "Window",
    "load_definitions",
    "parse_window",
]
