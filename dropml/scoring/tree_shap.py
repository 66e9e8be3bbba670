"""Path-dependent TreeSHAP in numpy: each feature's exact Shapley contribution to a tree ensemble's raw output.

The game is the one TreeSHAP (Lundberg et al. 2020, Algorithm 2) explains:
``E[f(x) | x_S]`` is the tree's output with the features in ``S`` set to the
row's values and the others averaged over the training rows that reached each
split (its ``cover``). For one leaf ``l`` whose path splits on the features
``F_l``, that expectation is a product over them:

    v_l * prod_{j in F_l} (o_j if j in S else p_j)

where ``o_j`` is 1 when the row goes the leaf's way at every split on ``j``
(else 0) and ``p_j`` the product of the cover ratios of those splits. The
Shapley value of a product game has a closed form: with the Shapley weights
written as Beta integrals, ``phi_i = (o_i - p_i) * int_0^1 prod_{j != i}
(p_j + t (o_j - p_j)) dt``. The integrand is a polynomial of degree
``|F_l| - 1`` in ``t``, so Gauss-Legendre quadrature with ``|F_l| // 2 + 1``
points gives it exactly. Summed over the leaves, the contributions plus the
expected value (``sum_l v_l cover_l / cover_root``) are the tree's output
(``tests/unit/test_tree_shap.py`` checks them against brute-force Shapley
values of the same game and against LightGBM's own ``pred_contrib``).

Everything is vectorised over rows and leaves: a forest's leaves are sorted
by path length and taken in chunks, each padded to its longest path, so a
row costs O(leaves x depth x depth / 2) multiply-adds with no Python loop per
node. The trees are given as the arrays scikit-learn and the compiled
TreeEnsemble use: children, split feature, threshold (``x <= threshold`` goes
left), where a missing value goes, each node's cover and each leaf's value
per output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK_CELLS = 1 << 21  # rows x leaves x path slots per step: ~16 MB per float64 array


@dataclass(frozen=True)
class TreeArrays:
    """Trees as concatenated node arrays (scikit-learn's layout, node ids local to each tree).

    ``starts[t]`` is where tree ``t``'s nodes begin. A leaf has ``left == -1``.
    ``values`` holds each node's value per output (``[nodes, outputs]``); only
    leaves are read. ``cover``: the training rows (or weights) that reached a
    node. ``float32_input``: splits read the input rounded to float32
    (scikit-learn's decision trees and forests), else as it is (histogram
    boosting).
    """

    starts: np.ndarray
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    cover: np.ndarray
    values: np.ndarray
    float32_input: bool = False

    @property
    def outputs(self) -> int:
        """How many outputs the trees add to (1, or one per class)."""
        return int(self.values.shape[1])


@dataclass(frozen=True)
class _LeafChunk:
    """Leaves whose paths split on at most ``width`` distinct features, as padded tables."""

    values: np.ndarray  # [leaves, outputs]
    zero: np.ndarray  # [leaves, width]: p_j, 1.0 in padding
    slot_feature: np.ndarray  # [leaves, width]: j, 0 in padding (its contribution is 0: o = p = 1)
    path_node: np.ndarray  # [steps]: the split nodes of every path, grouped by (leaf, feature)
    path_left: np.ndarray  # [steps]: the leaf's way at that node
    segment_starts: np.ndarray  # [slots]: where each (leaf, feature) group of steps starts
    slot_cells: np.ndarray  # [slots]: its cell in the [leaves, width] table
    nodes: np.ndarray  # [2, quadrature points]: t and weight on [0, 1]


class TreeShap:
    """A tree ensemble's path-dependent TreeSHAP, its tables built once from :class:`TreeArrays`."""

    def __init__(self, trees: TreeArrays) -> None:
        self.trees = trees
        self.expected = _expected_values(trees)  # [outputs]: the mean output over the training rows' covers
        self._chunks = _leaf_chunks(trees)

    def contributions(self, matrix: np.ndarray, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's feature contributions to output ``output[row]`` (summed over the trees), and the trees' sum.

        Returns ``(contributions [rows, features], sums [rows])``: per row,
        ``expected[output] + contributions.sum() == sums``, the trees' summed
        output for that row (computed here from the same paths).
        """
        trees = self.trees
        rows, width = matrix.shape
        features = np.asarray(matrix, dtype="float64")
        if trees.float32_input:
            features = features.astype("float32").astype("float64")
        output = np.asarray(output, dtype="int64")
        contributions = np.zeros((rows, width))
        sums = np.zeros(rows)
        for chunk in self._chunks:
            leaves, slots = chunk.zero.shape
            step = max(1, CHUNK_CELLS // max(1, leaves * slots))
            for first in range(0, rows, step):
                part = slice(first, min(rows, first + step))
                phi, value = _chunk_contributions(trees, chunk, features[part], output[part], width)
                contributions[part] += phi
                sums[part] += value
        return contributions, sums


def _chunk_contributions(
    trees: TreeArrays, chunk: _LeafChunk, features: np.ndarray, output: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    rows = len(features)
    leaves, slots = chunk.zero.shape
    node = chunk.path_node
    read = features[:, trees.feature[node]]  # [rows, steps]
    goes_left = np.where(np.isnan(read), trees.missing_left[node], read <= trees.threshold[node])
    disagree = (goes_left != chunk.path_left).astype("int32")
    agree = np.ones((rows, leaves * slots))
    if len(node):
        agree[:, chunk.slot_cells] = np.add.reduceat(disagree, chunk.segment_starts, axis=1) == 0
    one = agree.reshape(rows, leaves, slots)  # o_j
    zero = chunk.zero[None, :, :]  # p_j
    gain = one - zero  # o_j - p_j
    integral = np.zeros((rows, leaves, slots))
    factor = np.empty_like(integral)
    others = np.empty_like(integral)
    for t, weight in chunk.nodes.T:
        # prod_{j != i} (p_j + t (o_j - p_j)): the product over the path over slot i's own factor, which is
        # above 0 for t in (0, 1) (a cover ratio is above 0); padding's factor is 1
        np.multiply(gain, t, out=factor)
        factor += zero
        np.divide(np.prod(factor, axis=2, keepdims=True), factor, out=others)
        others *= weight
        integral += others
    leaf_value = chunk.values[:, output].T  # [rows, leaves]
    phi = gain * integral * leaf_value[:, :, None]
    cells = (np.arange(rows)[:, None, None] * width + chunk.slot_feature[None, :, :]).reshape(-1)
    contributions = np.bincount(cells, weights=phi.reshape(-1), minlength=rows * width).reshape(rows, width)
    reached = one.all(axis=2)  # the one leaf each tree sends the row to
    return contributions, (reached * leaf_value).sum(axis=1)


def _expected_values(trees: TreeArrays) -> np.ndarray:
    leaves = trees.left == -1
    roots = np.repeat(trees.starts, np.diff(np.append(trees.starts, len(trees.left))))
    share = trees.cover / trees.cover[roots]
    return (trees.values[leaves] * share[leaves, None]).sum(axis=0)


def _paths(trees: TreeArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every leaf's path as rows of (split node, went left), root last, padded with -1; and its leaf ids."""
    count = len(trees.left)
    offset = np.repeat(trees.starts, np.diff(np.append(trees.starts, count)))
    inner = np.flatnonzero(trees.left != -1)
    parent = np.full(count, -1, dtype="int64")
    is_left = np.zeros(count, dtype=bool)
    left_child = trees.left[inner] + offset[inner]
    right_child = trees.right[inner] + offset[inner]
    parent[left_child], parent[right_child] = inner, inner
    is_left[left_child] = True
    leaves = np.flatnonzero(trees.left == -1)
    nodes, lefts = [], []
    current = leaves.copy()
    while True:
        up = np.where(current >= 0, parent[np.maximum(current, 0)], -1)
        if (up < 0).all():
            break
        nodes.append(up)
        lefts.append(np.where(up >= 0, is_left[np.maximum(current, 0)], False))
        current = up
    if not nodes:
        return leaves, np.empty((len(leaves), 0), "int64"), np.empty((len(leaves), 0), bool), offset
    return leaves, np.column_stack(nodes), np.column_stack(lefts), offset


def _leaf_chunks(trees: TreeArrays) -> list[_LeafChunk]:
    """The leaves as chunks of similar path length (each padded to its longest), shortest paths first."""
    leaves, nodes, lefts, offset = _paths(trees)
    valid = nodes >= 0
    safe = np.maximum(nodes, 0)
    feature = np.where(valid, trees.feature[safe], np.iinfo("int64").max)
    # each leaf's distinct split features: its path sorted by feature, a new slot where the feature changes
    order = np.argsort(feature, axis=1, kind="stable")
    nodes, lefts, feature, valid = (np.take_along_axis(a, order, axis=1) for a in (nodes, lefts, feature, valid))
    safe = np.maximum(nodes, 0)
    new = valid.copy()
    new[:, 1:] &= feature[:, 1:] != feature[:, :-1]
    slot = np.cumsum(new, axis=1) - 1
    distinct = new.sum(axis=1)
    child = np.where(lefts, trees.left[safe], trees.right[safe]) + offset[safe]
    ratio = np.where(valid, trees.cover[child] / trees.cover[safe], 1.0)  # the share of the split's rows going this way
    by_length = np.argsort(distinct, kind="stable")
    lengths = np.maximum(distinct[by_length], 1)
    chunks = []
    first = 0
    while first < len(by_length):  # a chunk: paths up to twice the shortest one's length, within CHUNK_CELLS
        width = int(lengths[first])
        last = min(int(np.searchsorted(lengths, 2 * width, side="right")), first + max(1, CHUNK_CELLS // (2 * width)))
        picked = by_length[first:last]
        chunks.append(
            _chunk(trees, leaves[picked], nodes[picked], lefts[picked], slot[picked], valid[picked], ratio[picked])
        )
        first = last
    return chunks


def _chunk(
    trees: TreeArrays,
    leaf_ids: np.ndarray,
    nodes: np.ndarray,
    lefts: np.ndarray,
    slot: np.ndarray,
    valid: np.ndarray,
    ratio: np.ndarray,
) -> _LeafChunk:
    count = len(leaf_ids)
    width = max(1, int(slot.max(initial=-1)) + 1)
    zero = np.ones((count, width))
    slot_feature = np.zeros((count, width), dtype="int64")
    rows, positions = np.nonzero(valid)  # row by row, each row's steps sorted by feature: grouped by (leaf, slot)
    cells = rows * width + slot[rows, positions]
    np.multiply.at(zero.reshape(-1), cells, ratio[rows, positions])
    path_node = nodes[rows, positions]
    slot_feature.reshape(-1)[cells] = trees.feature[path_node]
    segment = np.ones(len(cells), dtype=bool)
    segment[1:] = cells[1:] != cells[:-1]
    points, weights = np.polynomial.legendre.leggauss(width // 2 + 1)  # exact up to degree 2 (width // 2) + 1
    return _LeafChunk(
        values=trees.values[leaf_ids],
        zero=zero,
        slot_feature=slot_feature,
        path_node=path_node,
        path_left=lefts[rows, positions],
        segment_starts=np.flatnonzero(segment),
        slot_cells=cells[segment],
        nodes=np.vstack([(points + 1) / 2, weights / 2]),
    )
