"""The review dock widget: run, annotate, re-measure, inspect profiles, save revisions.

Long work (loading, the pipeline, re-measuring, saving) runs in napari worker threads;
the widget only copies layer data before a job and updates layers when it returns, so
the viewer never freezes.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Layer
from napari.qt.threading import create_worker
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..anatomy import VEIN_NAMES
from ._layers import (
    WINDOW_PRESETS,
    LayerData,
    defects_layer,
    landmarks_layer,
    layer_meta,
    layer_role,
    lesion_layer,
    points_to_lps,
    route_layers,
    route_tables_from_trace,
    veins_layer,
    volume_from_layer,
    window_limits,
)

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("route", "continuity", "lesion", "start_mm", "end_mm", "length_mm",
                 "z_min_mm", "z_max_mm", "max_occlusion_pct", "segments")
"""Columns of the lesion/route table."""


def viewer_camera(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, else ``viewer.camera``)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def labels_digest(veins: np.ndarray, defects: np.ndarray) -> str:
    """Digest of a (veins, defects) pair: tells whether labels changed since a measurement."""
    h = hashlib.blake2b(digest_size=16)
    for a in (veins, defects):
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.data)
    return h.hexdigest()


def lesion_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per lesion (or per route without lesion) for the table."""
    rows = []
    for r in report.get("routes", []):
        lesions = r.get("lesions") or []
        if not lesions:
            rows.append({"route": r["name"], "continuity": r.get("continuity", ""), "lesion": ""})
        for k, les in enumerate(lesions, start=1):
            rows.append({"route": r["name"], "continuity": r.get("continuity", ""), "lesion": k,
                         **{c: les.get(c) for c in TABLE_COLUMNS[3:9]},
                         "segments": ", ".join(les.get("segments") or [])})
    return rows


class ProfileCanvas(QWidget):
    """Diameter and occlusion along one route; a click moves the cursor (``s_clicked``)."""

    s_clicked = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 2.6), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(200)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas)
        self.ax = self.figure.add_subplot(111)
        self.ax_occ = self.ax.twinx()
        self.cursor = None
        self.canvas.mpl_connect("button_press_event", self._on_click)

    def plot(self, table: dict[str, np.ndarray] | None, lesions: list[dict[str, Any]] = ()) -> None:
        """Draw one route's profile (equivalent/min diameter, occlusion, lesion spans)."""
        self.ax.clear()
        self.ax_occ.clear()
        self.cursor = None
        if table is not None and len(table["s_mm"]):
            s = table["s_mm"]
            self.ax.plot(s, table["equivalent_diameter_mm"], color="tab:blue", lw=1.2, label="equivalent")
            self.ax.plot(s, table["min_diameter_mm"], color="tab:cyan", lw=0.8, label="min")
            self.ax_occ.fill_between(s, 0, np.nan_to_num(table["occlusion_pct"]), color="tab:red",
                                     alpha=0.3, step="mid")
            for les in lesions:
                self.ax.axvspan(les["start_mm"], les["end_mm"], color="tab:red", alpha=0.08)
            self.ax.legend(loc="upper left", fontsize=7)
        self.ax.set_xlabel("s (mm from pelvic end)", fontsize=8)
        self.ax.set_ylabel("diameter (mm)", fontsize=8)
        self.ax_occ.set_ylabel("occlusion (%)", fontsize=8, color="tab:red")
        self.ax_occ.set_ylim(0, 100)
        for a in (self.ax, self.ax_occ):
            a.tick_params(labelsize=7)
        self.canvas.draw_idle()

    def set_cursor(self, s_mm: float) -> None:
        """Move the vertical cursor to ``s_mm``."""
        if self.cursor is None:
            self.cursor = self.ax.axvline(s_mm, color="k", lw=1, ls="--")
        else:
            self.cursor.set_xdata([s_mm, s_mm])
        self.canvas.draw_idle()

    def _on_click(self, event: Any) -> None:
        if event.xdata is not None and event.inaxes in (self.ax, self.ax_occ):
            self.s_clicked.emit(float(event.xdata))


class ReviewWidget(QWidget):
    """Dock widget: series, pipeline, landmarks, label edits, re-measure, table, profile, save."""

    progress_changed = Signal(str, float)

    def __init__(self, napari_viewer: Any, *, config: Any = None) -> None:
        super().__init__()
        from ..config import load_config

        self.viewer = napari_viewer
        self.config = config if config is not None else load_config(None)
        self.result: Any = None
        self.report: dict[str, Any] | None = None
        self.tables: dict[str, dict[str, np.ndarray]] = {}
        self.measured_digest: str | None = None
        self.original: tuple[np.ndarray, np.ndarray] | None = None
        self.last_revision: Path | None = None
        self.worker: Any = None
        self._build_ui()
        self.progress_changed.connect(self._on_progress)
        self.viewer.layers.events.inserted.connect(self._on_layers_changed)
        self.viewer.layers.events.removed.connect(self._on_layers_changed)
        self._on_layers_changed()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        lay = QVBoxLayout(self)
        # series
        box = QGroupBox("Series")
        b = QVBoxLayout(box)
        row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("DICOM folder, image file or run folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path_edit)
        row.addWidget(browse)
        b.addLayout(row)
        row = QHBoxLayout()
        self.series_combo = QComboBox()
        self.find_btn = QPushButton("Find series")
        self.find_btn.clicked.connect(self.find_series)
        self.load_btn = QPushButton("Open")
        self.load_btn.clicked.connect(self.open_path)
        row.addWidget(self.series_combo, 1)
        row.addWidget(self.find_btn)
        row.addWidget(self.load_btn)
        b.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("CT window"))
        self.window_combo = QComboBox()
        self.window_combo.addItems(list(WINDOW_PRESETS))
        self.window_combo.currentTextChanged.connect(self.set_window)
        row.addWidget(self.window_combo, 1)
        b.addLayout(row)
        lay.addWidget(box)
        # pipeline
        box = QGroupBox("Pipeline")
        b = QVBoxLayout(box)
        row = QHBoxLayout()
        self.run_btn = QPushButton("Run pipeline")
        self.run_btn.clicked.connect(self.run_pipeline)
        self.remeasure_btn = QPushButton("Re-measure")
        self.remeasure_btn.setToolTip("Trace and measure again from the edited veins/defects layers")
        self.remeasure_btn.clicked.connect(self.remeasure)
        self.save_btn = QPushButton("Save revision")
        self.save_btn.setToolTip("Write corrected labels and a re-measured report to <run>/revisions/")
        self.save_btn.clicked.connect(self.save)
        for w in (self.run_btn, self.remeasure_btn, self.save_btn):
            row.addWidget(w)
        b.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        b.addWidget(self.progress)
        b.addWidget(self.status)
        lay.addWidget(box)
        # landmarks
        box = QGroupBox("Landmarks")
        b = QHBoxLayout(box)
        self.landmark_combo = QComboBox()
        self.landmark_combo.addItems(list(VEIN_NAMES))
        self.landmark_combo.currentTextChanged.connect(self.set_landmark_name)
        add = QPushButton("Place")
        add.setToolTip("Select the landmarks layer in add mode; points get the chosen vein")
        add.clicked.connect(self.place_landmarks)
        load = QPushButton("Load…")
        load.clicked.connect(self._load_landmarks_dialog)
        save = QPushButton("Save…")
        save.clicked.connect(self._save_landmarks_dialog)
        for w in (self.landmark_combo, add, load, save):
            b.addWidget(w)
        lay.addWidget(box)
        # table
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        lay.addWidget(self.table)
        # profile
        row = QHBoxLayout()
        row.addWidget(QLabel("Route"))
        self.route_combo = QComboBox()
        self.route_combo.currentTextChanged.connect(self._plot_route)
        row.addWidget(self.route_combo, 1)
        lay.addLayout(row)
        self.profile = ProfileCanvas(self)
        self.profile.s_clicked.connect(self._on_profile_click)
        lay.addWidget(self.profile)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        for w in (self.run_btn, self.remeasure_btn, self.save_btn, self.load_btn, self.find_btn):
            w.setEnabled(not busy)
        if text:
            self.status.setText(text)

    def _on_progress(self, stage: str, frac: float) -> None:
        self.progress.setValue(int(round(100 * frac)))
        self.status.setText(f"{stage}…")

    def _progress_fn(self, stage: str, frac: float) -> None:
        self.progress_changed.emit(stage, float(frac))  # queued to the GUI thread

    def _start(self, func: Any, on_done: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``func(*args, **kwargs)`` in a worker thread; ``on_done(result)`` in the GUI."""
        self._set_busy(True, text)
        self.progress.setValue(0)
        worker = create_worker(func, *args, **kwargs)
        worker.returned.connect(on_done)
        worker.errored.connect(self._on_error)
        worker.finished.connect(lambda: self._set_busy(False))
        self.worker = worker
        worker.start()
        return worker

    def _on_error(self, exc: BaseException) -> None:
        log.error("vascseg: %s", exc)
        self.status.setText(f"error: {exc}")
        self.progress.setValue(0)

    # ------------------------------------------------------------------ layers
    def layers_with_role(self, role: str) -> list[Any]:
        """Layers of the viewer whose vascseg role is ``role``."""
        return [lay for lay in self.viewer.layers if layer_role(lay) == role]

    def layer(self, role: str) -> Any:
        """The (first) layer with ``role`` or None."""
        found = self.layers_with_role(role)
        return found[0] if found else None

    def _add(self, data: LayerData) -> Any:
        return self.viewer.add_layer(Layer.create(*data))

    def _replace(self, role: str, new: list[LayerData]) -> None:
        active = self.viewer.layers.selection.active
        for lay in self.layers_with_role(role):
            self.viewer.layers.remove(lay)
        for d in new:
            self._add(d)
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active

    def _on_layers_changed(self, event: Any = None) -> None:
        veins = self.layer("veins")
        if veins is not None and self.report is None:
            run_dir = layer_meta(veins).get("run_dir")
            if run_dir:
                self._load_run_state(Path(run_dir))
        img = self.layer("image")
        if img is not None and not self.path_edit.text():
            src = layer_meta(img).get("source_path")
            if src:
                self.path_edit.setText(src)

    def _load_run_state(self, run_dir: Path) -> None:
        """Report and route tables of a run folder whose layers the viewer shows (no layer change)."""
        import json

        from ._layers import read_route_csvs

        self.run_dir = run_dir
        self.report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
        self.tables = read_route_csvs(run_dir / "routes")
        self._refresh_table()

    def original_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """The labels edits are counted against: the run's files, or the last pipeline output."""
        run_dir = self.run_dir
        if run_dir is None:
            return self.original if self.original is not None else self.current_labels()
        from ._run import load_run

        run = load_run(run_dir, with_image=False)
        return np.asarray(run.veins, np.uint8), np.asarray(run.defects, np.uint8)

    @property
    def run_dir(self) -> Path | None:
        veins = self.layer("veins")
        rd = layer_meta(veins).get("run_dir") if veins is not None else None
        return Path(rd) if rd else getattr(self, "_run_dir", None)

    @run_dir.setter
    def run_dir(self, value: Path | None) -> None:
        self._run_dir = value

    def grid(self) -> Any:
        """The label grid (a Volume) of the veins layer, else of the image layer."""
        for role in ("veins", "image"):
            lay = self.layer(role)
            if lay is not None:
                return volume_from_layer(lay)
        raise RuntimeError("no vascseg image or label layer in the viewer: open a series or a run")

    def set_window(self, preset: str) -> None:
        """Apply a CT window preset to the image layer(s)."""
        for lay in self.layers_with_role("image"):
            if layer_meta(lay).get("modality") == "CT":
                lay.contrast_limits = window_limits(preset)

    # ------------------------------------------------------------------ series
    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "DICOM folder or run folder")
        if d:
            self.path_edit.setText(d)
            self.find_series()

    def find_series(self) -> None:
        """List the series under the path in the combo box (headers only)."""
        from ..io import find_series

        self.series_combo.clear()
        path = self.path_edit.text().strip()
        if not path:
            return
        try:
            found = find_series(path)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.status.setText(f"error: {exc}")
            return
        for s in found.series:
            shape = "×".join(map(str, s.shape_zyx or ()))
            self.series_combo.addItem(f"{s.modality} {s.description} [{shape}] {s.short_id}", s.id)
        self.status.setText(f"{len(found.series)} series found")

    def open_path(self) -> None:
        """Open the path: a run folder, or the chosen series (in a worker thread)."""
        from ._reader import read_run, series_layers
        from ._run import is_run_dir

        path = self.path_edit.text().strip()
        if not path:
            return
        if is_run_dir(path):
            self._start(read_run, self._on_opened, "loading run…", path)
        else:
            self._start(series_layers, self._on_opened, "loading series…", path,
                        series=self.series_combo.currentData())

    def _on_opened(self, layers: list[LayerData]) -> None:
        self.original = None
        self.report = None
        self.result = None
        self._run_dir = None
        for d in layers:
            self._add(d)
        self.status.setText("opened")

    # ------------------------------------------------------------------ pipeline
    def run_pipeline(self) -> Any:
        """Segment, trace and measure the image layer in a worker thread."""
        from ..pipeline import run

        img = self.layer("image")
        if img is None:
            self.status.setText("open a series first")
            return None
        vol = volume_from_layer(img)
        return self._start(run, self._on_run_done, "running the pipeline…", vol, self.config,
                           landmarks=self.landmarks() or None, progress=self._progress_fn)

    def _on_run_done(self, result: Any) -> None:
        grid = result.volume
        veins, defects = result.segmentation.veins, result.segmentation.defects
        for role, builder, arr in (("veins", veins_layer, veins), ("defects", defects_layer, defects)):
            lay = self.layer(role)
            data = builder(arr, grid)
            if lay is not None and lay.data.shape == arr.shape:
                lay.data = data[0]
            else:
                self._replace(role, [data])
        self.original = (np.asarray(veins, np.uint8).copy(), (np.asarray(defects) > 0).astype(np.uint8))
        self._set_result(result)

    def current_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the veins and defects layers' data (defects empty if there is no layer)."""
        veins = self.layer("veins")
        if veins is None:
            raise RuntimeError("no veins layer: run the pipeline or open a run first")
        defects = self.layer("defects")
        v = np.asarray(veins.data).astype(np.uint8, copy=True)
        d = (np.asarray(defects.data) > 0).astype(np.uint8) if defects is not None else np.zeros_like(v)
        return v, d

    def _edited_labels(self):
        """(veins, defects, grid) of the edited layers, or None with the reason in the status."""
        try:
            veins, defects = self.current_labels()
            return veins, defects, self.grid()
        except RuntimeError as exc:
            self.status.setText(str(exc))
            return None

    def remeasure(self) -> Any:
        """Trace and measure from the edited labels (no re-segmentation), in a worker thread."""
        from ..pipeline import measure_labels

        edited = self._edited_labels()
        if edited is None:
            return None
        veins, defects, grid = edited
        vol = grid.with_array(veins)
        return self._start(measure_labels, self._on_measured, "re-measuring…", vol, veins, defects,
                           self.config, progress=self._progress_fn)

    def _on_measured(self, result: Any) -> None:
        self._set_result(result)

    def _set_result(self, result: Any) -> None:
        self.result = result
        self.report = result.report
        self.tables = route_tables_from_trace(result.trace)
        self.measured_digest = labels_digest(*self.current_labels())
        self.progress.setValue(100)
        self.status.setText("measured: " + "; ".join(
            f"{r['name']} {r['continuity']}" for r in self.report.get("routes", [])))
        self._refresh_views()

    def _refresh_views(self) -> None:
        """Rebuild route/lesion layers, the table and the profile from report + tables."""
        if self.report is None:
            return
        self._refresh_layers()
        self._refresh_table()

    def _refresh_layers(self) -> None:
        grid = self.grid()
        meta_extra = {"run_dir": str(self.run_dir)} if self.run_dir else {}
        routes = route_layers(self.tables, grid)
        lesions = lesion_layer(self.report, grid, self.tables)
        for _, kw, _ in (*routes, lesions):
            kw["metadata"]["vascseg"].update(meta_extra)
        self._replace("route", routes)
        self._replace("lesions", [lesions])

    def _refresh_table(self) -> None:
        rows = lesion_rows(self.report or {})
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, c in enumerate(TABLE_COLUMNS):
                v = r.get(c, "")
                txt = f"{v:.1f}" if isinstance(v, float) else ("" if v is None else str(v))
                self.table.setItem(i, j, QTableWidgetItem(txt))
        current = self.route_combo.currentText()
        self.route_combo.blockSignals(True)
        self.route_combo.clear()
        names = [n for n, t in self.tables.items() if len(t["s_mm"])]
        self.route_combo.addItems(names)
        if current in names:
            self.route_combo.setCurrentText(current)
        else:
            with_lesion = [r["name"] for r in self.report.get("routes", []) if r.get("lesions")]
            if with_lesion and with_lesion[0] in names:
                self.route_combo.setCurrentText(with_lesion[0])
        self.route_combo.blockSignals(False)
        self._plot_route(self.route_combo.currentText())

    def lesions_of(self, route: str) -> list[dict[str, Any]]:
        """Lesions of ``route`` in the current report."""
        for r in (self.report or {}).get("routes", []):
            if r["name"] == route:
                return list(r.get("lesions") or [])
        return []

    def _plot_route(self, route: str) -> None:
        self.profile.plot(self.tables.get(route), self.lesions_of(route))

    def _on_table_selection(self) -> None:
        rows = {i.row() for i in self.table.selectedItems()}
        if not rows:
            return
        row = min(rows)
        route = self.table.item(row, 0).text()
        lesion = self.table.item(row, 2).text()
        if route in self.tables:
            self.route_combo.setCurrentText(route)
        if lesion:
            les = self.lesions_of(route)[int(lesion) - 1]
            self.jump_to(route, 0.5 * (les["start_mm"] + les["end_mm"]))

    def _on_profile_click(self, s_mm: float) -> None:
        self.jump_to(self.route_combo.currentText(), s_mm)

    def jump_to(self, route: str, s_mm: float) -> tuple[float, float, float] | None:
        """Move the viewer to the centreline point of ``route`` nearest ``s_mm``.

        Sets the dims slider to that point's LPS z (world axis 0) and centres the camera on
        it. Returns the world point ``(z, y, x)`` mm, or None when the route is unknown.
        """
        t = self.tables.get(route)
        if t is None or not len(t["s_mm"]):
            return None
        i = int(np.argmin(np.abs(np.asarray(t["s_mm"]) - s_mm)))
        world = (float(t["z_mm"][i]), float(t["y_mm"][i]), float(t["x_mm"][i]))
        self.viewer.dims.set_point(0, world[0])
        viewer_camera(self.viewer).center = world
        self.profile.set_cursor(float(t["s_mm"][i]))
        self.status.setText(f"{route}: s={t['s_mm'][i]:.0f} mm, z={world[0]:.1f} mm, "
                            f"diameter {t['equivalent_diameter_mm'][i]:.1f} mm, "
                            f"occlusion {np.nan_to_num(t['occlusion_pct'][i]):.0f}%")
        return world

    # ------------------------------------------------------------------ landmarks
    def landmarks_layer(self, *, create: bool = True) -> Any:
        """The landmarks Points layer (created on the label/image grid when missing)."""
        lay = self.layer("landmarks")
        if lay is None and create:
            lay = self._add(landmarks_layer(self.grid(), default_name=self.landmark_combo.currentText()))
        return lay

    def set_landmark_name(self, name: str) -> None:
        """Vein of the next points placed, and of the selected points."""
        lay = self.landmarks_layer(create=False)
        if lay is None:
            return
        lay.feature_defaults = {"name": name}
        sel = sorted(lay.selected_data)
        if sel:
            feats = lay.features.copy()
            feats.loc[sel, "name"] = name
            lay.features = feats

    def place_landmarks(self) -> None:
        """Select the landmarks layer in add mode."""
        try:
            lay = self.landmarks_layer()
        except RuntimeError as exc:
            self.status.setText(str(exc))
            return
        lay.feature_defaults = {"name": self.landmark_combo.currentText()}
        self.viewer.layers.selection.active = lay
        lay.mode = "add"

    def landmarks(self) -> list[Any]:
        """The landmarks layer's points as :class:`vascseg.io.Landmark` (LPS mm)."""
        from ..io import Landmark

        lay = self.landmarks_layer(create=False)
        if lay is None or not len(lay.data):
            return []
        lps = points_to_lps(lay)
        names = [str(n) for n in lay.features["name"]]
        return [Landmark(n, tuple(float(v) for v in p), tuple(float(v) for v in idx))
                for n, p, idx in zip(names, lps, np.asarray(lay.data), strict=True)]

    def save_landmarks(self, path: str | Path) -> Path:
        """Write the landmarks layer to ``path`` (the ``--landmarks`` JSON format)."""
        from ..io import save_landmarks

        return save_landmarks(self.landmarks(), path)

    def load_landmarks(self, path: str | Path) -> Any:
        """Replace the landmarks layer's points by those of ``path``."""
        from ..io import load_landmarks

        grid = self.grid()
        lms = load_landmarks(path, grid)
        self._replace("landmarks", [landmarks_layer(grid, lms, default_name=self.landmark_combo.currentText())])
        return self.layer("landmarks")

    def _load_landmarks_dialog(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Landmarks JSON", "", "JSON (*.json)")
        if f:
            try:
                self.load_landmarks(f)
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self.status.setText(f"error: {exc}")

    def _save_landmarks_dialog(self) -> None:
        f, _ = QFileDialog.getSaveFileName(self, "Landmarks JSON", "landmarks.json", "JSON (*.json)")
        if f:
            try:
                self.status.setText(f"saved {self.save_landmarks(f)}")
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self.status.setText(f"error: {exc}")

    # ------------------------------------------------------------------ save
    def save(self) -> Any:
        """Write the corrected labels and a re-measured report as a new revision (worker)."""
        run_dir = self.run_dir
        if run_dir is None:
            self.status.setText("no run folder: open a `vascseg run` output to save revisions")
            return None
        edited = self._edited_labels()
        if edited is None:
            return None
        veins, defects, grid = edited
        original = self.original_labels()
        up_to_date = (self.result is not None and self.measured_digest == labels_digest(veins, defects))
        return self._start(_save_job, self._on_saved, "saving revision…", run_dir, grid, veins, defects,
                           self.config, result=self.result if up_to_date else None,
                           original=original, progress=self._progress_fn)

    def _on_saved(self, out: tuple[Path, Any]) -> None:
        path, result = out
        self.last_revision = path
        if result is not self.result:
            self._set_result(result)
        self.status.setText(f"saved revision {path}")


def _save_job(run_dir: Path, grid: Any, veins: np.ndarray, defects: np.ndarray, config: Any, *,
              result: Any, original: tuple[np.ndarray, np.ndarray], progress: Any) -> tuple[Path, Any]:
    """Worker: re-measure if needed, then write the revision."""
    from ..pipeline import measure_labels
    from ._revision import save_revision

    if result is None:
        result = measure_labels(grid.with_array(veins), veins, defects, config, progress=progress)
    path = save_revision(run_dir, grid, veins, defects, result.report, route_tables_from_trace(result.trace),
                         original_veins=original[0], original_defects=original[1])
    return path, result
