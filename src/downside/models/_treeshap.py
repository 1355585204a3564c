"""Exact path-dependent TreeSHAP of a LightGBM booster, summed over groups of columns.

LightGBM's ``pred_contrib`` runs TreeSHAP row by row: its cost grows with trees x
leaves x depth^2 for every row, about 1 ms per row for 300 trees of 15 leaves, so 25
rows already take longer than the whole rest of a forecast. Explanations by driver
family need only the SHAP values summed per group of columns (the five families and the
always-on query columns), and those can be tabulated once per model.

For a leaf with value ``v`` and unique path features ``F`` (``d = |F|``), feature ``i``
receives (Lundberg et al. 2020, algorithm 2)::

    phi_i = v (o_i - z_i) sum over S in F\\{i} of  |S|! (d-|S|-1)! / d!
                                                    prod_{j in S} o_j prod_{j not in S} z_j

where ``z_j`` is the product of the cover fractions of the path's splits on ``j`` and
``o_j`` is 1 if the row satisfies all of them, else 0. As the ``o_j`` are 0 or 1, the
value depends on the row only through the bit mask of the ``o_j``: one table of
``2^d`` rows per leaf (one column per group, summing the group's features) holds every
possible answer. Each feature's split thresholds cut its values into bins; which path
conditions a value satisfies depends only on its bin, so a row's masks are one sparse
product (bins one-hot times a bins-by-leaves matrix of bit values) and its answer is
one lookup per leaf (a second sparse product).

The result equals ``pred_contrib`` summed per group up to float rounding (checked by
the tests against LightGBM itself). Node decisions follow LightGBM's rules: ``x <=
threshold`` goes left; NaN goes the node's default way for ``missing_type`` NaN, is
read as 0 for ``None``; for ``Zero``, NaN and 0 go the default way; categorical splits
send the listed codes left and NaN or negative codes right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import factorial
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

ZERO_THRESHOLD = 1e-35
"""LightGBM's ``kZeroThreshold``: values within it count as zero for ``missing_type`` Zero."""

MAX_TABLE_ENTRIES = 20_000_000
"""Largest total table size built (float64 entries, 160 MB); bigger models are refused."""

_CHUNK_CELLS = 2_000_000
"""Rows are processed in chunks of about this many (row x node) cells."""


@dataclass
class _Node:
    feature: int
    threshold: float
    categorical: bool
    categories: frozenset[int]
    default_left: bool
    missing: str
    count: float


@dataclass
class _Cond:
    """The path's splits on one feature, seen from one leaf."""

    feature: int
    nodes: list[tuple[int, bool]]
    zero_fraction: float


@dataclass
class _Leaf:
    value: float
    conds: list[_Cond]


def _walk(tree: Mapping[str, Any], nodes: list[_Node], leaves: list[_Leaf]) -> None:
    """Collect every leaf of one dumped tree with its path conditions."""

    def visit(node: Mapping[str, Any], path: list[_Cond]) -> None:
        if "split_index" not in node:
            leaves.append(_Leaf(float(node["leaf_value"]), path))
            return
        categorical = node["decision_type"] == "=="
        cats: frozenset[int] = frozenset()
        if categorical:
            cats = frozenset(int(c) for c in str(node["threshold"]).split("||"))
        index = len(nodes)
        nodes.append(
            _Node(
                feature=int(node["split_feature"]),
                threshold=0.0 if categorical else float(node["threshold"]),
                categorical=categorical,
                categories=cats,
                default_left=bool(node["default_left"]),
                missing=str(node["missing_type"]),
                count=float(node["internal_count"]),
            )
        )
        total = float(node["internal_count"])
        for child, left in ((node["left_child"], True), (node["right_child"], False)):
            count = float(child.get("internal_count", child.get("leaf_count", 0)))
            fraction = count / total if total > 0 else 0.0
            out = []
            merged = False
            for cond in path:
                if cond.feature == nodes[index].feature:
                    cond = _Cond(
                        cond.feature,
                        [*cond.nodes, (index, left)],
                        cond.zero_fraction * fraction,
                    )
                    merged = True
                out.append(cond)
            if not merged:
                out.append(_Cond(nodes[index].feature, [(index, left)], fraction))
            visit(child, out)

    visit(tree, [])


def _expected_value(tree: Mapping[str, Any]) -> float:
    """LightGBM's ``Tree::ExpectedValue``: leaf values weighted by their counts."""
    root = tree
    if "split_index" not in root:
        return float(root["leaf_value"])
    total = float(root["internal_count"])
    stack = [root]
    out = 0.0
    while stack:
        node = stack.pop()
        if "split_index" in node:
            stack += [node["left_child"], node["right_child"]]
        else:
            out += float(node["leaf_count"]) / total * float(node["leaf_value"])
    return out


def _shapley_weights(d: int) -> FloatArray:
    """``w[m] = m! (d - m - 1)! / d!`` for coalitions of ``m`` other features."""
    return np.array(
        [factorial(m) * factorial(d - m - 1) / factorial(d) for m in range(d)], dtype=np.float64
    )


def leaf_tables(z: FloatArray, values: FloatArray) -> FloatArray:
    """SHAP value of each path feature for every mask, for leaves with ``d`` features.

    Args:
        z: zero fractions, shape ``(leaves, d)``.
        values: leaf values, shape ``(leaves,)``.

    Returns:
        ``phi`` of shape ``(leaves, 2^d, d)``: ``phi[l, mask, k]`` is feature ``k``'s
        share of leaf ``l`` when the row satisfies exactly the features in ``mask``
        (bit ``k`` set: ``o_k = 1``).
    """
    n_leaves, d = z.shape
    masks = (np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1
    inside = masks.astype(bool)
    count = masks.sum(axis=1)
    weights = _shapley_weights(d)
    phi = np.empty((n_leaves, 2**d, d), dtype=np.float64)
    for k in range(d):
        poly = np.zeros((n_leaves, 2**d, d), dtype=np.float64)
        poly[:, :, 0] = 1.0
        outside = np.ones((n_leaves, 2**d), dtype=np.float64)
        for j in range(d):
            if j == k:
                continue
            member = inside[:, j]
            zj = z[:, j]
            poly[:, member, 1:] += zj[:, None, None] * poly[:, member, :-1]
            outside[:, ~member] *= zj[:, None]
        others = count - masks[:, k]
        # sum over coalitions S of the ones: w(|S|) * e_{|others| - |S|}(z of the ones)
        degree = np.arange(d)[None, :]
        size = others[:, None] - degree
        coef = np.where(size >= 0, weights[np.clip(size, 0, d - 1)], 0.0)
        total = np.einsum("lmt,mt->lm", poly, coef)
        phi[:, :, k] = values[:, None] * (masks[:, k][None, :] - z[:, k, None]) * outside * total
    return phi


class GroupedTreeShap:
    """Per-group sums of a booster's path-dependent SHAP values, tabulated per leaf.

    Args:
        dump: ``Booster.dump_model()`` of the model (the trees ``predict`` uses).
        column_groups: group index of every model column, in model column order.
        n_groups: number of groups.

    Attributes:
        expected_value: the bias, LightGBM's sum of the trees' expected values.

    Raises:
        ValueError: the tables would exceed :data:`MAX_TABLE_ENTRIES`, the dump is not a
            single-output tree model, or one feature mixes missing-value types.
    """

    def __init__(
        self, dump: Mapping[str, Any], column_groups: Sequence[int], n_groups: int
    ) -> None:
        if int(dump.get("num_tree_per_iteration", 1)) != 1:
            raise ValueError("grouped TreeSHAP supports single-output models only")
        groups = np.asarray(column_groups, dtype=np.int64)
        nodes: list[_Node] = []
        leaves: list[_Leaf] = []
        self.expected_value = 0.0
        for tree in dump["tree_info"]:
            structure = tree["tree_structure"]
            self.expected_value += _expected_value(structure)
            if "split_index" in structure:
                _walk(structure, nodes, leaves)
        self.n_groups = n_groups
        self.n_columns = len(groups)
        self._compile_bins(nodes)
        self._compile_masks(nodes, leaves)
        self._compile_tables(leaves, groups)

    # ------------------------------------------------------------------ build

    def _compile_bins(self, nodes: list[_Node]) -> None:
        """Per used feature: its sorted thresholds (numeric) or code range (categorical)."""
        by_feature: dict[int, list[int]] = {}
        for i, node in enumerate(nodes):
            by_feature.setdefault(node.feature, []).append(i)
        self._features = np.array(sorted(by_feature), dtype=np.int64)
        self._thresholds: list[FloatArray] = []
        self._kinds: list[str] = []
        self._rank: dict[int, int] = {}
        offsets = [0]
        for feature in self._features:
            members = [nodes[i] for i in by_feature[int(feature)]]
            if any(n.categorical for n in members):
                if not all(n.categorical for n in members):
                    raise ValueError(f"column {feature} has numeric and categorical splits")
                top = max(max(n.categories, default=0) for n in members)
                self._kinds.append("categorical")
                self._thresholds.append(np.zeros(top + 1))
                offsets.append(offsets[-1] + top + 2)
                continue
            kinds = {n.missing for n in members}
            if len(kinds) != 1:
                raise ValueError(f"column {feature} has splits with missing types {kinds}")
            thresholds = np.unique([n.threshold for n in members])
            for i in by_feature[int(feature)]:
                self._rank[i] = int(np.searchsorted(thresholds, nodes[i].threshold))
            self._kinds.append(kinds.pop())
            self._thresholds.append(thresholds)
            offsets.append(offsets[-1] + thresholds.size + 2)
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._slot = {int(f): k for k, f in enumerate(self._features)}

    def _satisfied(self, nodes: list[_Node], cond: _Cond) -> BoolArray:
        """Whether a value in each bin of the feature satisfies every split of ``cond``.

        Numeric bins ``r = 0..K`` hold values with ``r`` thresholds below them (``x <= t_j``
        exactly when ``r <= j``), bin ``K + 1`` the values sent the default way (NaN, and 0
        for missing type Zero). Categorical bins are the codes, then one bin for NaN,
        negative and unseen codes, which go right at every split.
        """
        k = self._slot[cond.feature]
        size = int(self._offsets[k + 1] - self._offsets[k])
        ok = np.ones(size, dtype=bool)
        if self._kinds[k] == "categorical":
            codes = np.arange(size - 1)
            for node, left in cond.nodes:
                listed = np.isin(codes, sorted(nodes[node].categories))
                ok[:-1] &= listed if left else ~listed
                ok[-1] &= not left
            return ok
        bins = np.arange(size - 1)
        for node, left in cond.nodes:
            ok[:-1] &= (bins <= self._rank[node]) == left
            ok[-1] &= nodes[node].default_left == left
        if self._kinds[k] == "None":
            ok[-1] = False
        return ok

    def _compile_masks(self, nodes: list[_Node], leaves: list[_Leaf]) -> None:
        """``masks = onehot(bins) @ B``: ``B[bin, leaf]`` adds the bits of the leaf's path
        conditions that a value in that bin satisfies."""
        rows: list[IntArray] = []
        cols: list[IntArray] = []
        vals: list[FloatArray] = []
        for leaf_id, leaf in enumerate(leaves):
            for bit, cond in enumerate(leaf.conds):
                hit = np.flatnonzero(self._satisfied(nodes, cond))
                rows.append(hit + self._offsets[self._slot[cond.feature]])
                cols.append(np.full(hit.size, leaf_id, dtype=np.int64))
                vals.append(np.full(hit.size, float(2**bit)))
        shape = (int(self._offsets[-1]), len(leaves))
        if rows:
            self._bits = sparse.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
            )
        else:
            self._bits = sparse.csr_matrix(shape)

    def _compile_tables(self, leaves: list[_Leaf], groups: npt.NDArray[np.int64]) -> None:
        """One ``(2^d, n_groups)`` block per leaf, stacked; ``_leaf_offset`` finds it."""
        total = sum(2 ** len(leaf.conds) for leaf in leaves) * self.n_groups
        if total > MAX_TABLE_ENTRIES:
            raise ValueError(
                f"grouped TreeSHAP tables would hold {total:,} entries "
                f"(limit {MAX_TABLE_ENTRIES:,}); the trees are too deep"
            )
        sizes = np.array([2 ** len(leaf.conds) for leaf in leaves], dtype=np.int64)
        self._leaf_offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        table = np.zeros((int(sizes.sum()), self.n_groups), dtype=np.float64)
        by_depth: dict[int, list[int]] = {}
        for leaf_id, leaf in enumerate(leaves):
            by_depth.setdefault(len(leaf.conds), []).append(leaf_id)
        for d, ids in sorted(by_depth.items()):
            z = np.array([[c.zero_fraction for c in leaves[i].conds] for i in ids])
            values = np.array([leaves[i].value for i in ids])
            phi = leaf_tables(z, values)
            member = np.zeros((len(ids), d, self.n_groups))
            for row, leaf_id in enumerate(ids):
                feature_groups = groups[[c.feature for c in leaves[leaf_id].conds]]
                member[row, np.arange(d), feature_groups] = 1.0
            blocks = np.einsum("lmk,lkg->lmg", phi, member)
            for row, leaf_id in enumerate(ids):
                start = self._leaf_offset[leaf_id]
                table[start : start + 2**d] = blocks[row]
        self._table = table

    # ------------------------------------------------------------------ evaluate

    def bins(self, matrix: FloatArray, features: IntArray | None = None) -> IntArray:
        """Global bin of the used features (positions into :attr:`_features`, default
        all) for every row, shape ``(rows, features)``."""
        which = np.arange(len(self._features)) if features is None else features
        out = np.empty((len(matrix), len(which)), dtype=np.int64)
        for col, k in enumerate(which):
            values = matrix[:, self._features[k]]
            nan = np.isnan(values)
            kind = self._kinds[k]
            last = int(self._offsets[k + 1] - self._offsets[k]) - 1
            if kind == "categorical":
                codes = np.where(nan, -1.0, np.trunc(values))
                local = np.where((codes < 0) | (codes >= last), last, codes).astype(np.int64)
            elif kind == "None":
                local = np.searchsorted(self._thresholds[k], np.where(nan, 0.0, values))
            else:
                local = np.searchsorted(self._thresholds[k], values)
                special = nan | ((np.abs(values) <= ZERO_THRESHOLD) if kind == "Zero" else False)
                local = np.where(special, last, local)
            out[:, col] = local + self._offsets[k]
        return out

    def _mask_sum(self, bins: IntArray) -> FloatArray:
        """Sum of the bit rows of the given bins, per row: ``onehot(bins) @ B``."""
        n, width = bins.shape
        onehot = sparse.csr_matrix(
            (np.ones(bins.size), bins.ravel(), np.arange(0, n * width + 1, width)),
            shape=(n, self._bits.shape[0]),
        )
        return np.asarray((onehot @ self._bits).toarray())

    def masks(
        self,
        matrix: FloatArray,
        row_groups: IntArray | None = None,
        varying: Sequence[int] = (),
    ) -> IntArray:
        """Bit mask of satisfied path features per (row, leaf); see :meth:`__call__`."""
        if row_groups is None:
            return np.rint(self._mask_sum(self.bins(matrix))).astype(np.int64)
        moving = np.isin(self._features, np.asarray(varying, dtype=np.int64))
        first = np.unique(row_groups, return_index=True)[1]
        fixed = self._mask_sum(self.bins(matrix[first], np.flatnonzero(~moving)))
        lookup = np.searchsorted(row_groups[first], row_groups)
        total = fixed[lookup]
        if moving.any():
            total += self._mask_sum(self.bins(matrix, np.flatnonzero(moving)))
        return np.rint(total).astype(np.int64)

    def __call__(
        self,
        matrix: FloatArray,
        *,
        row_groups: npt.ArrayLike | None = None,
        varying: Sequence[int] = (),
    ) -> FloatArray:
        """Summed SHAP values per group, shape ``(rows, n_groups)``; add
        :attr:`expected_value` for the bias.

        Args:
            matrix: model inputs in model column order (categories as codes).
            row_groups: optional integer label per row; rows with the same label must
                hold the same values in every column not listed in ``varying`` (a
                forecast grid of one as-of time). Their shared columns are then binned
                once, which makes a grid of 25 queries cost about as much as 6 rows.
            varying: model column indices that may differ within a row group.

        Raises:
            ValueError: ``matrix`` is not 2-D with the model's number of columns, or
                ``row_groups`` does not have one label per row.
        """
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_columns:
            raise ValueError(
                f"expected a matrix with {self.n_columns} columns, received shape {matrix.shape}"
            )
        groups = None if row_groups is None else np.asarray(row_groups, dtype=np.int64)
        if groups is not None and groups.shape != (len(matrix),):
            raise ValueError(
                f"expected one row group per row ({len(matrix)}), received {groups.shape}"
            )
        n_leaves = len(self._leaf_offset)
        out = np.zeros((len(matrix), self.n_groups), dtype=np.float64)
        if n_leaves == 0:
            return out
        step = max(1, _CHUNK_CELLS // n_leaves)
        for start in range(0, len(matrix), step):
            rows = slice(start, start + step)
            mask = self.masks(matrix[rows], None if groups is None else groups[rows], varying)
            n = len(mask)
            pick = sparse.csr_matrix(
                (
                    np.ones(mask.size),
                    (mask + self._leaf_offset).ravel(),
                    np.arange(0, n * n_leaves + 1, n_leaves),
                ),
                shape=(n, len(self._table)),
            )
            out[rows] = pick @ self._table
        return out
