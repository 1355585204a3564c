"""Features: the feature repository, causal transforms and the point-in-time feature store.

``load_definitions(dir)`` reads the top-level ``features/`` folder — ``repo.toml`` (the
families, name tokens and price venues) and one ``*.toml`` file per family — into a
validated :class:`FeatureSet`; :class:`FeatureStore` materialises the features per group
from a :class:`downside.store.Store`, caches them under the store root, and serves them
as of any time without look-ahead. Each definition's ``transform`` names one of the small
transform objects of :data:`TRANSFORMS`, whose fields give the derived feature names.
"""

from downside.features._definitions import FeatureDefinition, FeatureSet, load_definitions
from downside.features._inputs import InputRef, InputTerm
from downside.features._repo import REPO_FILE, FeatureRepo, load_repo
from downside.features._store import FeatureStore
from downside.features._transforms import (
    TRANSFORMS,
    CarryAnnualized,
    Cumulative,
    DaysSinceMaCross,
    Diff,
    DistanceToLow,
    DrawdownFromHigh,
    FailedBreakout,
    GarmanKlassVol,
    LagTransform,
    Level,
    LogReturn,
    MaCrossState,
    MaDistance,
    Mean,
    NegativeStreak,
    ParamSpec,
    ParkinsonVol,
    PctChange,
    PerDollarVolume,
    PositiveShare,
    RealizedVol,
    RelativeTransform,
    RollingTransform,
    Rsi,
    Share,
    Spread,
    Sum,
    SumPerDollarVolume,
    SumTo,
    Transform,
    WindowTransform,
    ZScore,
    parse_transform,
)
from downside.features._windows import Window, parse_window

__all__ = [
    "REPO_FILE",
    "TRANSFORMS",
    "CarryAnnualized",
    "Cumulative",
    "DaysSinceMaCross",
    "Diff",
    "DistanceToLow",
    "DrawdownFromHigh",
    "FailedBreakout",
    "FeatureDefinition",
    "FeatureRepo",
    "FeatureSet",
    "FeatureStore",
    "GarmanKlassVol",
    "InputRef",
    "InputTerm",
    "LagTransform",
    "Level",
    "LogReturn",
    "MaCrossState",
    "MaDistance",
    "Mean",
    "NegativeStreak",
    "ParamSpec",
    "ParkinsonVol",
    "PctChange",
    "PerDollarVolume",
    "PositiveShare",
    "RealizedVol",
    "RelativeTransform",
    "RollingTransform",
    "Rsi",
    "Share",
    "Spread",
    "Sum",
    "SumPerDollarVolume",
    "SumTo",
    "Transform",
    "Window",
    "WindowTransform",
    "ZScore",
    "load_definitions",
    "load_repo",
    "parse_transform",
    "parse_window",
]
