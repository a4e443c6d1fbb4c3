"""MeshPanel: the hand meshes in 3D (pyqtgraph.opengl), rotatable, coloured by skin or uncertainty.

Needs a real OpenGL context: it works on a desktop and under Xvfb, not on Qt's offscreen platform.
Camera axes (x right, y down, z away) map to GL axes (X = x, Y = z, Z = -y), and the default view
looks along +Y, so the mesh first appears as the camera sees the hand; drag to rotate.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph.opengl as gl

from .colorbar import COLOR_MODES, uncertainty_rgba

__all__ = ["MeshPanel"]

_SKIN = np.array([0.93, 0.74, 0.62, 1.0], np.float32)
_CAM_TO_GL = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], np.float32)  # rows: GL X, Y, Z from x, y, z
_SPACING_MM = 110.0  # side-by-side offset of two hands


class _MeshData(gl.MeshData):
    """MeshData with vectorised vertex normals.

    pyqtgraph's own `vertexNormals` loops over the vertices in Python: about 80 ms per frame for
    a 1.7K-vertex hand, which would stall the UI thread. Same result (normalised sums of the
    adjacent faces' normals), computed with numpy.
    """

    def vertexNormals(self, indexed=None):
        if self._vertexNormals is None:
            summed = np.zeros(self._vertexes.shape, np.float64)
            face_normals = self.faceNormals()
            for corner in self.faces().T:
                np.add.at(summed, corner, face_normals)
            summed /= np.linalg.norm(summed, axis=1, keepdims=True) + 1e-12
            self._vertexNormals = summed.astype(np.float32)
        return super().vertexNormals(indexed)


class _HandItems:
    """One hand's mesh item and its colour buffers, updated in place."""

    def __init__(self, view: gl.GLViewWidget) -> None:
        self.data = _MeshData()
        self.mesh = gl.GLMeshItem(meshdata=self.data, smooth=True, shader="shaded", glOptions="opaque")
        view.addItem(self.mesh)
        self.source_faces: np.ndarray | None = None  # faces as given, to notice a change
        self.nearest: np.ndarray | None = None  # (V,) joint index closest to each vertex
        self.colors: np.ndarray | None = None

    def set_visible(self, visible: bool) -> None:
        self.mesh.setVisible(visible)


class MeshPanel(gl.GLViewWidget):
    """Up to two hands side by side; `set_hands` updates the mesh data in place."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackgroundColor((28, 31, 36))
        self.setCameraPosition(distance=330, elevation=8, azimuth=-90)
        grid = gl.GLGridItem()
        grid.setSize(600, 600)
        grid.setSpacing(50, 50)
        grid.setColor((255, 255, 255, 28))
        grid.translate(0, 0, -130)
        self.addItem(grid)
        self._hands = [_HandItems(self), _HandItems(self)]
        for h in self._hands:
            h.set_visible(False)
        self.color_mode = "skin"

    def set_color_mode(self, mode: str) -> None:
        """"skin" or "uncertainty" (per-vertex predicted 3D std of the nearest joint)."""
        if mode not in COLOR_MODES:
            raise ValueError(f"colour mode must be one of {COLOR_MODES}, got {mode!r}")
        self.color_mode = mode

    def set_hands(self, hands: Sequence, order_x: Sequence[float] | None = None) -> None:
        """Show these hands (app.pipeline.HandResult); extra items are hidden.

        Args:
            hands: up to two HandResults (vertices/joints3d in mm, camera axes, wrist at 0).
            order_x: screen x of each hand, used to place them left to right; default: given order.
        """
        order = np.argsort(order_x) if order_x is not None else np.arange(len(hands))
        shown = [hands[i] for i in order][:2]
        for k, items in enumerate(self._hands):
            if k >= len(shown):
                items.set_visible(False)
                continue
            offset = (k - (len(shown) - 1) / 2.0) * _SPACING_MM
            self._update(items, shown[k], offset)
            items.set_visible(True)

    def _update(self, items: _HandItems, hand, offset_x: float) -> None:
        verts = np.asarray(hand.vertices, np.float32)
        centre = verts.mean(0)
        gl_verts = (verts - centre) @ _CAM_TO_GL.T
        gl_verts[:, 0] += offset_x
        faces = hand.pose.faces
        if items.source_faces is None or items.source_faces.shape != faces.shape \
                or not np.array_equal(items.source_faces, faces):
            items.source_faces = faces.copy()
            tri = gl_verts[faces]
            volume = float((tri[:, 0] * np.cross(tri[:, 1], tri[:, 2])).sum())
            # pyqtgraph's shaded shader lights faces wound clockwise seen from outside (its own
            # MeshData.sphere has negative signed volume): flip outward-wound meshes to match.
            items.data.setFaces(np.ascontiguousarray(faces[:, ::-1] if volume > 0 else faces, np.int32))
            d = ((verts[:, None, :] - np.asarray(hand.joints3d)[None]) ** 2).sum(-1)
            items.nearest = d.argmin(1)
            items.colors = np.empty((len(verts), 4), np.float32)
        items.data.setVertexes(gl_verts)
        if self.color_mode == "uncertainty":
            sigma = np.sqrt(np.maximum(hand.pose.var3d, 0.0)).mean(1)  # (21,) mm
            items.colors[:] = uncertainty_rgba(sigma[items.nearest])
        else:
            items.colors[:] = _SKIN
        items.data.setVertexColors(items.colors)
        items.mesh.meshDataChanged()
        items.mesh.update()
