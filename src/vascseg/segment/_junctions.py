"""Where named veins meet: centrelines re-drawn through the junction from the branches' axes.

The skeleton of two thick tubes meeting at an angle branches where the largest inscribed
ball touches both, well inside the wider vessel (about one radius before the anatomical
junction), and runs diagonally from there. Naming voxels by their nearest skeleton point
then gives the end of the parent vein (the lower IVC at the iliac confluence) to the
branches. Each vein's axis is straight enough near the junction: the axes are fitted
beyond the distorted zone and the junction point is where they meet (least squares);
the skeleton points inside the zone are replaced by straight samples from that point to
each fitted stretch. Positions are LPS mm.
"""

from __future__ import annotations

import numpy as np

FIT_LENGTH_MM = 25.0
"""Length of each vein's stretch the axis is fitted on, beyond the distorted zone."""

ZONE_RADII = 1.5
MIN_ZONE_MM = 6.0
"""The distorted zone reaches ZONE_RADII times the skeleton radius at the branch point (at
least MIN_ZONE_MM) from it along each vein."""

MAX_SHIFT_RADII = 3.0
"""The junction point found must lie within this many radii (the skeleton's at the branch
point) of the branch point, and every axis within one radius of it."""

STEP_MM = 1.0
"""Spacing of the re-drawn centreline samples."""


def _fit_axis(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - c, full_matrices=False)
    return c, vt[0]


def _meet(axes) -> np.ndarray:
    """Point nearest (least squares) to lines given as (point, unit direction)."""
    a = np.zeros((3, 3))
    b = np.zeros(3)
    for c, d in axes:
        p = np.eye(3) - np.outer(d, d)
        a += p
        b += p @ c
    return np.linalg.lstsq(a, b, rcond=None)[0]


def redraw_junction(pos: np.ndarray, radius: np.ndarray, dist: np.ndarray, parent: list[int],
                    children: list[list[int]]):
    """Re-draw one junction.

    Parameters
    ----------
    pos, radius, dist : (N, 3) LPS mm, (N,) mm, (N,) geodesic mm from the tree root
        Skeleton nodes.
    parent : list of int
        The parent vein's nodes, root side first, ending at the branch node.
    children : list of list of int
        Each branch's nodes, starting just after the branch node.

    Returns
    -------
    None when the axes cannot be fitted or do not meet near the branch node; else
    ``(drop, samples)``: nodes to forget (per path, in the order parent, *children) and
    the re-drawn samples per path as ``(points (M, 3), radii (M,))``.
    """
    if not parent or not all(children):
        return None
    j = parent[-1]
    zone = max(MIN_ZONE_MM, ZONE_RADII * float(radius[j]))
    paths = [parent[::-1]] + [list(c) for c in children]  # all running away from the junction
    axes, drops, firsts = [], [], []
    for path in paths:
        d = np.abs(dist[path] - dist[j])
        near = [n for n, dd in zip(path, d, strict=True) if dd < zone]
        fit = [n for n, dd in zip(path, d, strict=True) if zone <= dd <= zone + FIT_LENGTH_MM]
        if len(fit) < 4:
            return None
        c, u = _fit_axis(pos[fit])
        # orient away from the junction
        if np.dot(pos[fit[-1]] - pos[fit[0]], u) < 0:
            u = -u
        axes.append((c, u))
        drops.append(near)
        firsts.append(fit[0])
    p = _meet(axes)
    r = max(float(radius[j]), 1.0)
    if np.linalg.norm(p - pos[j]) > MAX_SHIFT_RADII * r:
        return None
    # the axes must really meet: each passes within one radius of the junction point
    for c, u in axes:
        off = p - c
        if np.linalg.norm(off - np.dot(off, u) * u) > r:
            return None
    samples = []
    for first in firsts:
        # from the junction point to the first fitted node, along the straight line
        end = pos[first]
        n = max(int(np.ceil(np.linalg.norm(end - p) / STEP_MM)), 1)
        w = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
        pts = p + w * (end - p)
        rad = (1 - w[:, 0]) * radius[j] + w[:, 0] * radius[first]
        samples.append((pts, rad))
    return drops, samples
