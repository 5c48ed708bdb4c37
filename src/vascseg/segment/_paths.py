"""Minimal paths through a cost volume, over its passable voxels only.

Geometry and costs as scikit-image's ``MCP_Geometric(costs, fully_connected=True,
sampling=spacing_mm)``: a step between 26-neighbours costs the mean of their two costs
times the step's length in mm. That class works on the whole array (a cost per voxel and
its edges, infinite ones included); the occlusion bridge's cost volume is passable (finite)
on about a sixth of its voxels, so a sparse graph of those is built and searched with
scipy's Dijkstra instead (the same cumulative costs, about half the time on the
segmentation benchmark's phantom). Arrays are (z, y, x).
"""

from __future__ import annotations

import itertools

import numpy as np

_FORWARD = [o for o in itertools.product((-1, 0, 1), repeat=3) if o > (0, 0, 0)]
"""Half of the 26 neighbour offsets; the graph is undirected."""


class MinimalPaths:
    """Cumulative minimal cost from a set of start voxels to every passable voxel.

    Parameters
    ----------
    cost : (Z, Y, X) float array
        Cost per mm of each voxel; ``inf`` (or any non-finite value) where no path may go.
        Costs must be positive where finite.
    starts : (Z, Y, X) bool array
        Start voxels (finite cost).
    spacing_mm : (dz, dy, dx)
    limit : float, optional
        Search no farther than this cumulative cost (voxels beyond get ``inf``).
    """

    def __init__(self, cost: np.ndarray, starts: np.ndarray, spacing_mm, *, limit: float = np.inf) -> None:
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import dijkstra

        self.shape = cost.shape
        passable = np.isfinite(cost)
        if (cost[passable] <= 0).any():
            raise ValueError("minimal paths need positive costs where finite")
        self._nodes = np.flatnonzero(passable)
        n = len(self._nodes)
        # node numbers in an array padded by one voxel all round: a neighbour lookup needs
        # no bounds check (the padding reads -1, as does any impassable voxel)
        padded = np.full(tuple(k + 2 for k in self.shape), -1, np.int32 if n < 2**31 else np.int64)
        self._number = padded[tuple(slice(1, k + 1) for k in self.shape)]  # node of each voxel, -1: none
        self._number[passable] = np.arange(n)
        flat = padded.ravel()
        strides = np.array([padded.shape[1] * padded.shape[2], padded.shape[2], 1])
        at = np.ravel_multi_index(np.unravel_index(self._nodes, self.shape), padded.shape) + int(strides.sum())
        c = cost.ravel()[self._nodes].astype(np.float64)
        neighbour = np.empty((n, len(_FORWARD)), flat.dtype)
        weight = np.empty((n, len(_FORWARD)))
        sp = np.asarray(spacing_mm, float)
        for m, off in enumerate(_FORWARD):
            j = flat[at + int(np.dot(off, strides))]
            neighbour[:, m] = j
            weight[:, m] = 0.5 * (c + c[np.maximum(j, 0)]) * float(np.linalg.norm(np.asarray(off) * sp))
        ok = neighbour >= 0
        indptr = np.concatenate([[0], np.cumsum(ok.sum(axis=1))])
        graph = csr_matrix((weight[ok], neighbour[ok], indptr), shape=(n, n))
        del neighbour, weight, ok
        src = self._number[starts]
        if (src < 0).any():
            raise ValueError("every start voxel must be passable (finite cost)")
        if len(src):
            dist, self._pred, _ = dijkstra(graph, directed=False, indices=src, min_only=True,
                                           return_predecessors=True, limit=limit)
        else:
            dist, self._pred = np.full(n, np.inf), np.full(n, -9999, np.int32)
        self.costs = np.full(self.shape, np.inf)
        self.costs.ravel()[self._nodes] = dist

    def traceback(self, end) -> np.ndarray:
        """The minimal path from the nearest start to voxel ``end`` (z, y, x), as an (M, 3)
        array of voxel indices beginning at the start."""
        i = int(self._number[tuple(int(v) for v in end)])
        if i < 0 or not np.isfinite(self.costs.ravel()[self._nodes[i]]):
            raise ValueError(f"voxel {tuple(end)} is not reached from the starts")
        chain = [i]
        while self._pred[chain[-1]] >= 0:
            chain.append(int(self._pred[chain[-1]]))
        return np.stack(np.unravel_index(self._nodes[chain[::-1]], self.shape), axis=1)
