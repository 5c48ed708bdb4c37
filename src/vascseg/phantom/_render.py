"""Tissue intensities and the float32 canvas that solids are composited onto.

Each solid is painted with a soft edge from its signed distance (partial volume): the
fraction ``alpha = clip(0.5 - sd / edge, 0, 1)`` of the voxel takes the tissue value. After
all solids: slice-thickness blur along z, noise, and for MR a smooth multiplicative bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from ._paint import Grid, Slices

# Tissue -> (CT HU, MR units of a T1-weighted post-contrast gradient echo). The vein,
# artery and defect values are drawn per seed around these (see :func:`tissue_table`).
TISSUES: dict[str, tuple[float, float]] = {
    "air": (-1000.0, 0.0),
    "fat": (-100.0, 850.0),
    "muscle": (50.0, 300.0),
    "liver": (115.0, 560.0),
    "spleen": (120.0, 520.0),
    "kidney_cortex": (190.0, 1150.0),
    "kidney_medulla": (140.0, 900.0),
    "sinus_fat": (-80.0, 800.0),
    "bone_cortex": (1000.0, 60.0),
    "bone_marrow": (260.0, 650.0),
    "disc": (85.0, 350.0),
    "csf": (10.0, 200.0),
    "bowel_wall": (45.0, 600.0),
    "bowel_fluid": (12.0, 180.0),
    "gas": (-1000.0, 10.0),
    "stool": (-40.0, 420.0),
    "uterus": (100.0, 820.0),
    "ovary": (60.0, 500.0),
    "urine": (5.0, 120.0),
    "vein": (175.0, 1500.0),
    "artery": (175.0, 1500.0),
    "defect": (50.0, 650.0),
}
"""Nominal tissue values: CT in HU, MR in arbitrary scanner units (0-~2000)."""


def tissue_table(modality: str, rng: np.random.Generator) -> dict[str, float]:
    """Per-seed tissue values (vein 150-200 HU, artery = vein +-20 HU, ...)."""
    k = 0 if modality == "CT" else 1
    tab = {name: v[k] for name, v in TISSUES.items()}
    if modality == "CT":
        tab["vein"] = float(rng.uniform(155.0, 195.0))
        tab["artery"] = tab["vein"] + float(rng.uniform(-20.0, 20.0))
        tab["defect"] = float(rng.uniform(40.0, 60.0))
        tab["fat"] += float(rng.uniform(-10.0, 10.0))
        tab["muscle"] += float(rng.uniform(-8.0, 8.0))
    else:
        scale = float(rng.uniform(0.8, 1.2))  # arbitrary scanner gain
        tab["vein"] = float(rng.uniform(1350.0, 1650.0))
        tab["artery"] = tab["vein"] + float(rng.uniform(-120.0, 120.0))
        tab["defect"] = float(rng.uniform(560.0, 720.0))
        tab = {n: v * scale for n, v in tab.items()}
    return tab


def texture(points: np.ndarray, seed: int, *, wavelength_mm: tuple[float, float] = (5.0, 14.0),
            n_waves: int = 6) -> np.ndarray:
    """Smooth heterogeneous texture in [-1, 1] at LPS points (sum of random plane waves)."""
    r = np.random.default_rng(seed)
    out = np.zeros(len(points), dtype=np.float32)
    # float32 phases: coordinates within +-500 mm lose < 1e-4 rad
    pts = np.asarray(points, dtype=np.float32)
    for _ in range(n_waves):
        k = r.normal(size=3)
        k *= 2 * np.pi / (np.linalg.norm(k) * r.uniform(*wavelength_mm))
        out += np.cos(pts @ k.astype(np.float32) + np.float32(r.uniform(0, 2 * np.pi)))
    return out / np.float32(np.sqrt(n_waves / 2.0) * 2.0)


@dataclass
class Canvas:
    """The image being painted (float32) and its tissue values."""

    grid: Grid
    img: np.ndarray
    tissues: dict[str, float]
    edge_mm: float

    @classmethod
    def new(cls, grid: Grid, tissues: dict[str, float]) -> Canvas:
        img = np.full(grid.shape, tissues["air"], dtype=np.float32)
        edge = float(np.mean(grid.spacing[1:]))
        return cls(grid, img, tissues, edge)

    def alpha(self, sd: np.ndarray) -> np.ndarray:
        return np.clip(np.float32(0.5) - sd / np.float32(self.edge_mm), 0.0, 1.0)

    def blend(self, sl: Slices, sd: np.ndarray, value, *, alpha: np.ndarray | None = None) -> None:
        """Composite ``value`` (tissue name, number or array like ``sd``) where ``sd`` < edge."""
        a = self.alpha(sd) if alpha is None else alpha
        if not a.any():
            return
        v = self.tissues[value] if isinstance(value, str) else value
        view = self.img[sl]
        view += a * (np.asarray(v, dtype=np.float32) - view)

    def paint(self, solid, value, *, shrink_mm: float = 0.0) -> None:
        """Paint an Ellipsoid/Cylinder (anything with ``fields``)."""
        for sl, sd in solid.fields(self.grid, shrink_mm=shrink_mm):
            self.blend(sl, sd, value)


def finish(canvas: Canvas, modality: str, rng: np.random.Generator) -> np.ndarray:
    """Blur (reconstruction + slice thickness), noise and MR bias, in place; returns the image."""
    img = canvas.img
    dz, dy, dx = canvas.grid.spacing
    inplane_sigma_mm = 0.45
    sig_xy = (inplane_sigma_mm / dy, inplane_sigma_mm / dx)
    for k in range(img.shape[0]):
        img[k] = gaussian_filter(img[k], sig_xy, mode="nearest")
    thick = np.sqrt(max(dz * dz - dx * dx, 0.0)) / 2.355 / dz
    if thick > 0.05:
        step = max(1, 2_000_000 // max(img.shape[0] * img.shape[2], 1))
        for y0 in range(0, img.shape[1], step):
            sl = img[:, y0:y0 + step, :]
            sl[...] = gaussian_filter1d(sl, thick, axis=0, mode="nearest")
    if modality == "MR":
        _bias(canvas, rng)
    sigma = float(rng.uniform(12.0, 20.0)) if modality == "CT" else float(rng.uniform(18.0, 32.0))
    noise_rng = np.random.default_rng(rng.integers(2**63))
    for k in range(img.shape[0]):
        n = noise_rng.standard_normal(img.shape[1:], dtype=np.float32)
        n = gaussian_filter(n, 0.6, mode="wrap") * np.float32(2.2)  # mildly correlated, CT-like
        img[k] += np.float32(sigma) * n
    if modality == "MR":
        np.abs(img, out=img)  # magnitude image
    canvas.tissues["noise_sigma"] = sigma
    return img


def _bias(canvas: Canvas, rng: np.random.Generator) -> None:
    """Multiply by a smooth separable field of +-~30 % (receive-coil shading)."""
    g = canvas.grid
    factors = []
    for axis in range(3):
        c = g.axis_mm(axis)
        u = (c - c.mean()) / max(np.ptp(c), 1.0) * 2.0  # [-1, 1]
        a1 = rng.choice([-1.0, 1.0]) * rng.uniform(0.04, 0.06)
        a2 = rng.uniform(-0.04, 0.04)
        factors.append((1.0 + a1 * u + a2 * (2 * u * u - 1)).astype(np.float32))
    fz, fy, fx = factors
    plane = fy[:, None] * fx[None, :]
    for k in range(canvas.img.shape[0]):
        canvas.img[k] *= fz[k] * plane
    canvas.tissues["bias_range"] = float(
        max(fz.max() * fy.max() * fx.max() - 1, 1 - fz.min() * fy.min() * fx.min()))
