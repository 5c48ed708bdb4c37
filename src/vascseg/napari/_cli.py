"""``vascseg view DIR [--screenshot PNG]``: open a run folder or a series in napari.

With ``--screenshot`` the viewer renders without showing anything: when there is no
``$DISPLAY`` a private Xvfb server is started (and stopped) for the render, the window is
shown with ``WA_DontShowOnScreen`` (a never-shown napari canvas renders black), the canvas
is written to the PNG and the command exits.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

XVFB_SCREEN = "1280x1024x24"
"""Screen of the private Xvfb server (width x height x depth)."""
XVFB_START_TIMEOUT_S = 15.0
"""How long to wait for Xvfb to report its display number."""
WINDOW_SIZE = (1280, 960)
"""Viewer window size for screenshots, pixels."""


class Xvfb:
    """A private Xvfb server on a free display, chosen by Xvfb itself (``-displayfd``)."""

    def __init__(self, screen: str = XVFB_SCREEN) -> None:
        exe = shutil.which("Xvfb")
        if exe is None:
            raise RuntimeError("no $DISPLAY and no Xvfb: install xvfb (apt-get install xvfb) "
                               "or run under an X server")
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            [exe, "-displayfd", str(w), "-screen", "0", screen, "-nolisten", "tcp"],
            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(w)
        buf = b""
        deadline = time.monotonic() + XVFB_START_TIMEOUT_S
        os.set_blocking(r, False)
        while not buf.endswith(b"\n") and time.monotonic() < deadline:
            try:
                chunk = os.read(r, 64)
            except BlockingIOError:
                chunk = None
            if chunk:
                buf += chunk
            elif chunk == b"" or self.proc.poll() is not None:
                break
            else:
                time.sleep(0.02)
        os.close(r)
        if not buf.strip().isdigit():
            self.stop()
            raise RuntimeError("Xvfb did not start (no display number reported)")
        self.display = f":{int(buf.strip())}"

    def stop(self) -> None:
        """Terminate the server (only the process this object started)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _focus_slice(viewer: Any) -> None:
    """Put the dims slider on the axial slice with most defect (else vein) voxels."""
    from ._layers import layer_role

    for role in ("defects", "veins"):
        lay = next((x for x in viewer.layers if layer_role(x) == role), None)
        if lay is None:
            continue
        arr = np.asarray(lay.data)
        counts = (arr > 0).sum(axis=(1, 2))
        if not counts.any():
            continue
        k = int(np.argmax(counts))
        yx = np.argwhere(arr[k] > 0).mean(axis=0)
        world = lay.data_to_world(np.array([k, yx[0], yx[1]], float))
        viewer.dims.set_point(0, float(world[0]))
        return


def screenshot_viewer(viewer: Any, path: str | Path) -> Path:
    """Render ``viewer``'s canvas to ``path`` (PNG) without putting a window on screen."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication

    win = viewer.window._qt_window
    win.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    win.resize(*WINDOW_SIZE)
    viewer.window.show()
    _focus_slice(viewer)
    viewer.reset_view()
    for _ in range(5):
        QApplication.processEvents()
        time.sleep(0.05)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(path=str(path), canvas_only=True, flash=False)
    return path


def view(path: str | Path, *, screenshot: str | Path | None = None) -> int:
    """Open ``path`` (run folder, DICOM folder or image) with the review widget.

    Returns the exit code: 0 on success, 1 when ``path`` cannot be read or rendered.
    """
    path = Path(path)
    if not path.exists():
        print(f"vascseg view: error: {path} does not exist", file=sys.stderr)
        return 1
    xvfb: Xvfb | None = None
    if screenshot is not None:
        if not os.environ.get("DISPLAY"):
            try:
                xvfb = Xvfb()
            except RuntimeError as exc:
                print(f"vascseg view: error: {exc}", file=sys.stderr)
                return 1
            os.environ["DISPLAY"] = xvfb.display
        os.environ["QT_QPA_PLATFORM"] = "xcb"  # offscreen does not work with napari + Qt 6
    try:
        import napari

        from ._widget import ReviewWidget

        viewer = napari.Viewer(show=False, title=f"vascseg - {path.name}")
        try:
            viewer.open(path, plugin="vascseg")
        except Exception as exc:  # noqa: BLE001 - napari wraps reader errors
            print(f"vascseg view: error: cannot open {path}: {exc}", file=sys.stderr)
            viewer.close()
            return 1
        widget = ReviewWidget(viewer)
        viewer.window.add_dock_widget(widget, name="vascseg review", area="right")
        if screenshot is not None:
            out = screenshot_viewer(viewer, screenshot)
            viewer.close()
            print(f"screenshot written to {out}")
            return 0
        viewer.show()
        napari.run()
        return 0
    finally:
        if xvfb is not None:
            xvfb.stop()
