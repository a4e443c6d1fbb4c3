"""A demo hand video without a camera: the shipped hand model animated through six gestures.

`DemoHand(width, height).render(t)` gives the frame at time t, with its exact 2D joints
(`joints2d_at`) and gesture (`gesture_at`), so a fresh machine can show (and test) the whole
pipeline working. Each frame poses the open hand (`dirnet.hand`, gestures from `dirnet.hand.poses`),
projects it with a pinhole camera, rasterises it with the synthetic renderer's z-buffer
(`dirnet.data.raster`), lights it with one soft directional light and puts it on a procedural
background (`dirnet.data.backgrounds`). Only the window around the hand is rasterised, which keeps
a frame at a few milliseconds on a laptop CPU.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from .data.backgrounds import procedural_backgrounds
from .data.raster import interpolate, rasterize
from .hand import create_hand_model
from .hand.poses import gesture_angles

__all__ = ["DemoHand", "DEMO_GESTURES", "CYCLE_S"]

DEMO_GESTURES = ("open_palm", "fist", "point", "victory", "thumbs_up", "pinch")
_HOLD_S, _MOVE_S = 1.4, 0.6  # seconds each gesture is held, and the blend to the next
CYCLE_S = len(DEMO_GESTURES) * (_HOLD_S + _MOVE_S)  # one pass through every gesture
_SKIN = torch.tensor([0.87, 0.68, 0.56])
_LIGHT = torch.nn.functional.normalize(torch.tensor([0.35, -0.45, -1.0]), dim=0)  # towards the light
_DEPTH_MM = 700.0
_RENDER_SCALE = 0.5  # rasterise the hand window at half size and upscale: 4x cheaper, still sharp


def _rotation(yaw: float, pitch: float, roll: float) -> torch.Tensor:
    """(3, 3) rotation: roll about z (view axis), then pitch about x, then yaw about y."""
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    ry = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = torch.tensor([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = torch.tensor([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


def _vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(V, 3) unit normals: area-weighted sums of the adjacent faces' normals."""
    tri = verts[faces]
    face_n = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
    normals = torch.zeros_like(verts).index_add_(0, faces.reshape(-1), face_n.repeat_interleave(3, 0))
    return torch.nn.functional.normalize(normals, dim=-1)


class DemoHand:
    """A right hand cycling through DEMO_GESTURES while it drifts and turns (CYCLE_S per cycle).

    Args:
        width, height: frame size in px.
        seed: background texture seed.
    """

    def __init__(self, width: int = 960, height: int = 540, seed: int = 3) -> None:
        self.width, self.height = width, height
        self.model = create_hand_model("open").eval()
        angles = np.stack([gesture_angles(g) for g in DEMO_GESTURES])
        with torch.no_grad():
            self._poses = self.model.angles_to_pose(torch.from_numpy(angles))  # (G, 15, 3)
            rest = self.model(torch.eye(3)[None], torch.zeros(1, 15, 3), torch.zeros(1, self.model.num_shape))
        faces = self.model.faces.long()
        tri = rest.vertices[0][faces]
        volume = (tri[:, 0] * torch.cross(tri[:, 1], tri[:, 2], dim=-1)).sum()
        self._faces = faces if volume > 0 else faces[:, [0, 2, 1]]  # outward normals for culling
        self._background = _backdrop(height, width, seed)
        self._focal = 0.95 * width

    def pose_at(self, t: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(hand_pose (1, 15, 3), rotation (1, 3, 3), translation (3,) mm) at time t seconds."""
        period = _HOLD_S + _MOVE_S
        k = int(t // period) % len(DEMO_GESTURES)
        phase = (t % period - _HOLD_S) / _MOVE_S
        w = 0.0 if phase <= 0 else phase * phase * (3 - 2 * phase)  # smoothstep blend
        pose = (1 - w) * self._poses[k] + w * self._poses[(k + 1) % len(DEMO_GESTURES)]
        rot = _rotation(0.5 * math.sin(0.7 * t), 0.25 * math.sin(0.5 * t + 1.0), 0.25 * math.sin(0.4 * t))
        x = 0.3 * _DEPTH_MM * math.sin(0.45 * t)
        y = 0.06 * _DEPTH_MM * math.sin(0.33 * t + 0.5) + 60.0  # the wrist sits below centre
        return pose[None], rot[None], torch.tensor([x, y, _DEPTH_MM])

    def render(self, t: float) -> np.ndarray:
        """The frame at time t seconds: (height, width, 3) uint8 RGB, a new array every call."""
        # One torch thread for this (calling) thread only: the demo renders beside DIR-Net, and two
        # OpenMP pools spinning on the same cores slow both down by an order of magnitude.
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                return self._render(t)
        finally:
            torch.set_num_threads(previous)

    def _posed(self, t: float):
        pose, rot, trans = self.pose_at(t)
        return self.model(rot, pose, torch.zeros(1, self.model.num_shape)), trans

    def _project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pinhole projection of (N, 3) mm camera points to frame px (u, v)."""
        return (points[:, 0] / points[:, 2] * self._focal + (self.width - 1) / 2,
                points[:, 1] / points[:, 2] * self._focal + (self.height - 1) / 2)

    def joints2d_at(self, t: float) -> np.ndarray:
        """(21, 2) frame px of the hand's joints at time t (the demo's exact labels)."""
        with torch.no_grad():
            mesh, trans = self._posed(t)
            u, v = self._project(mesh.joints[0] + trans)
        return torch.stack([u, v], -1).numpy()

    def gesture_at(self, t: float) -> str | None:
        """The gesture held at time t, or None while blending to the next one."""
        period = _HOLD_S + _MOVE_S
        return DEMO_GESTURES[int(t // period) % len(DEMO_GESTURES)] if t % period <= _HOLD_S else None

    def _render(self, t: float) -> np.ndarray:
        mesh, trans = self._posed(t)
        verts = mesh.vertices[0] + trans
        u, v = self._project(verts)
        # Rasterise only the hand's window (plus a margin), then paste it into the frame.
        x0 = max(int(u.min()) - 4, 0)
        y0 = max(int(v.min()) - 4, 0)
        x1 = min(int(u.max()) + 5, self.width)
        y1 = min(int(v.max()) + 5, self.height)
        frame = self._background.copy()
        if x1 - x0 < 2 or y1 - y0 < 2:
            return frame
        k = _RENDER_SCALE
        w, h = max(2, round((x1 - x0) * k)), max(2, round((y1 - y0) * k))
        # Pixel centres: window px i covers frame px [x0 + i/k - 0.5, ...), centre x0 + (i + 0.5)/k - 0.5.
        points = torch.stack([(u - x0 + 0.5) * k - 0.5, (v - y0 + 0.5) * k - 0.5, verts[:, 2]], -1)[None]
        frags = rasterize(points, self._faces, h, w)
        normals = _vertex_normals(verts, self._faces)
        diffuse = (normals @ _LIGHT).clamp(min=0)[:, None]
        rim = (1 - normals[:, 2].abs()).pow(3)[:, None] * 0.15  # soft edge light, reads as skin
        colours = (_SKIN * (0.38 + 0.7 * diffuse) + rim).clamp(0, 1)[None]
        shaded = interpolate(frags, self._faces, colours)  # (N, 3)
        rgba = np.zeros((h * w, 4), np.float32)
        pix = frags.pixel.numpy()
        rgba[pix, :3] = shaded.numpy() * 255
        rgba[pix, 3] = 1.0
        # Upscaling the colour and coverage together antialiases the silhouette.
        rgba = cv2.resize(rgba.reshape(h, w, 4), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        window = frame[y0:y1, x0:x1]
        alpha = rgba[..., 3:]
        window[:] = (window * (1 - alpha) + rgba[..., :3]).clip(0, 255).astype(np.uint8)
        return frame


def _backdrop(height: int, width: int, seed: int) -> np.ndarray:
    """A calm, softly lit room-like background: a procedural texture, heavily blurred and toned down.

    Everything in it is smooth, so it is made at 1/8 of the size and scaled up: the same picture
    (within 3 grey levels at 960x540) for a seventh of the CPU time at start-up.

    Returns:
        (height, width, 3) uint8 RGB.
    """
    gen = torch.Generator().manual_seed(seed)
    texture = procedural_backgrounds(1, 64, gen)[0].permute(1, 2, 0).numpy()
    small_h, small_w = max(2, height // 8), max(2, width // 8)
    texture = cv2.resize(texture, (small_w, small_h), interpolation=cv2.INTER_CUBIC)
    texture = cv2.GaussianBlur(texture, (0, 0), sigmaX=small_w / 40)
    y, x = np.ogrid[:small_h, :small_w]
    r2 = ((x + 0.5) / small_w - 0.5) ** 2 + ((y + 0.5) / small_h - 0.5) ** 2
    wall = np.array([0.36, 0.39, 0.43], np.float32)  # blue-grey, contrasts with every skin tone
    image = (0.7 * wall + 0.3 * texture) * (1.15 - 1.2 * r2)[..., None].astype(np.float32)
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(image * 255, 0, 255).astype(np.uint8)
