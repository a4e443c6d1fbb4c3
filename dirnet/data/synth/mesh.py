"""The rendered hand of `dirnet.data.synth`: outward faces, a forearm, per-vertex appearance, shading.

Pure functions: on rest-pose geometry (canonical frame of `dirnet.hand.base`, millimetres), used
once when a `SynthRenderer` is built, and batched ones (vertex normals, skin colours, shading).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dirnet.hand.base import HandModel
from dirnet.hand.skeleton import FINGERS

__all__ = ["face_adjacency", "vertex_normals", "outward_faces", "forearm_template", "nail_weight",
           "visibility_margin", "skin_colours", "shade_vertices"]

_VIS_NEIGHBOURS = 12  # a finger joint's surface radius: distance to its 12th nearest rest vertex
# Back-of-hand skin colours (sRGB 0..1) from Fitzpatrick I to VI; tones between are interpolated.
_SKIN = ((0.93, 0.79, 0.70), (0.88, 0.70, 0.58), (0.78, 0.58, 0.44),
         (0.64, 0.45, 0.31), (0.46, 0.31, 0.21), (0.29, 0.19, 0.14))
_PALM = (0.91, 0.72, 0.64)  # palms are lighter and pinker, markedly so on dark skin
_NAIL = (0.93, 0.78, 0.74)


def face_adjacency(faces: torch.Tensor, num_verts: int) -> torch.Tensor:
    """(V, F) sparse matrix with a 1 where vertex v is a corner of face f (for `vertex_normals`)."""
    face_of_corner = torch.arange(faces.shape[0], device=faces.device).repeat_interleave(3)
    index = torch.stack([faces.reshape(-1), face_of_corner])
    ones = torch.ones(index.shape[1], device=faces.device)
    return torch.sparse_coo_tensor(index, ones, (num_verts, faces.shape[0]), check_invariants=True).coalesce()


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals, summed over faces by one sparse matrix product.

    Args:
        verts: (B, V, 3) vertices.
        faces: (F, 3) int64 faces shared by the batch.
        adjacency: `face_adjacency(faces, V)`.

    Returns:
        (B, V, 3) unit normals along (v1 - v0) x (v2 - v0) of the faces (zero for a vertex in
        no face).
    """
    b, v = verts.shape[:2]
    tri = verts.index_select(1, faces.reshape(-1)).view(b, -1, 3, 3)  # (B, F, 3, 3); faster than verts[:, faces]
    face_n = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
    summed = torch.sparse.mm(adjacency, face_n.transpose(0, 1).reshape(faces.shape[0], b * 3))
    return F.normalize(summed.view(v, b, 3).transpose(0, 1), dim=-1)


def outward_faces(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(F, 3) faces of a closed mesh, re-wound if needed so that their normals point outwards."""
    tri = verts[faces]
    volume = (tri[:, 0] * torch.cross(tri[:, 1], tri[:, 2], dim=-1)).sum()
    return faces if volume > 0 else faces[:, [0, 2, 1]]


def forearm_template(hand_verts: torch.Tensor, length: float = 350.0, rings: int = 24,
                      segments: int = 16, overlap: float = 18.0
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A capped, slightly widening tube continuing the hand's wrist along +y (the arm).

    Real crops show the forearm leaving the frame; a hand cut off at the wrist would teach the
    network a false wrist cue. The tube's first full ring hugs the wrist `overlap` mm before its
    end, so the (irregular) end of the hand mesh stays inside the tube.

    Args:
        hand_verts: (V, 3) rest-pose hand vertices, canonical frame (fingers to -y), mm.
        length: tube length beyond the end of the hand mesh, mm.
        rings, segments: tube resolution.
        overlap: how far up the wrist the tube starts, mm.

    Returns:
        (rings * segments + 1, 3) vertices, their outward-wound faces (int64), and the (3,) hinge
        point (centre of the first full ring) about which the forearm bends.
    """
    device = hand_verts.device
    top = hand_verts[:, 1].max()
    start = top - overlap
    band = hand_verts[(hand_verts[:, 1] - start).abs() < 4.0]
    end = hand_verts[hand_verts[:, 1] > start - 4.0]
    lo, hi = band.amin(0), band.amax(0)
    centre, radius = (lo + hi) / 2, (hi - lo) / 2
    theta = torch.arange(segments, device=device) * (2 * math.pi / segments)
    ellipse = torch.stack([radius[0] * torch.cos(theta), radius[2] * torch.sin(theta)], -1)  # (S, 2)

    def outline(points: torch.Tensor) -> torch.Tensor:
        """(S,) per angular sector, the farthest point's distance in units of the ellipse."""
        rel = points[:, [0, 2]] - centre[[0, 2]]
        sector = torch.remainder(torch.round(torch.atan2(rel[:, 1], rel[:, 0]) / (2 * math.pi / segments)),
                                 segments).long()
        far = torch.zeros(segments, device=device).scatter_reduce(0, sector, rel.norm(dim=1), "amax")
        fit = far / ellipse.norm(dim=1)
        return torch.where(fit > 0, fit, fit[fit > 0].mean())

    # Ring 0 hides inside the wrist; ring 1 hugs it; ring 2 encloses the (irregular) end of the
    # hand mesh; the rest relax to a smooth ellipse down the arm, closer together near the wrist
    # and widening towards the elbow.
    near, cuff = outline(band), 1.05 * outline(end)
    t = torch.linspace(0, 1, rings - 2, device=device)
    y = torch.cat([start[None] - 8.0, start[None], top + length * t ** 1.5])
    blend = (t / t[min(1, rings - 3)]).clamp(max=1)[:, None]
    smooth = cuff.mean() * (1 + 0.25 * t[:, None])
    scale = torch.cat([0.8 * near[None], 1.02 * near[None], (1 - blend) * cuff + blend * smooth])
    xz = ellipse[None] * scale[..., None]  # (rings, S, 2)
    ring = torch.stack([centre[0] + xz[..., 0], y[:, None].expand(rings, segments),
                        centre[2] + xz[..., 1]], -1).reshape(-1, 3)
    tip = torch.stack([centre[0], y[-1], centre[2]])[None]
    i, k = torch.meshgrid(torch.arange(rings - 1), torch.arange(segments), indexing="ij")
    a, b = i * segments + k, i * segments + (k + 1) % segments
    c, d = a + segments, b + segments
    sides = torch.cat([torch.stack([a, b, d], -1), torch.stack([a, d, c], -1)]).reshape(-1, 3)
    last = (rings - 1) * segments + torch.arange(segments)
    cap = torch.stack([last, (last + 1 - (rings - 1) * segments) % segments + (rings - 1) * segments,
                       torch.full_like(last, rings * segments)], -1)
    verts = torch.cat([ring, tip])
    hinge = torch.stack([centre[0], start, centre[2]])
    return verts, outward_faces(verts, torch.cat([sides, cap]).to(device)), hinge


def _smoothstep(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    t = ((x - lo) / (hi - lo)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def nail_weight(verts: torch.Tensor, normals: torch.Tensor, joints: torch.Tensor,
                model: HandModel) -> torch.Tensor:
    """Where the fingernails are: dorsal skin over the outer half of each distal phalanx.

    Args:
        verts: (V, 3) rest-pose vertices, mm.
        normals: (V, 3) their unit normals.
        joints: (21, 3) rest-pose joints, MediaPipe order.
        model: the hand model; its `joint_axes` give each finger's dorsal direction.

    Returns:
        (V,) float32 coverage in [0, 1]; all zeros for a model without `joint_axes`.
    """
    axes = getattr(model, "joint_axes", None)
    weight = torch.zeros(verts.shape[0], device=verts.device)
    if axes is None:
        return weight
    distal_rows = {"index": 2, "middle": 5, "ring": 11, "pinky": 8, "thumb": 14}  # MANO order
    for finger, chain in FINGERS.items():
        base, tip = joints[chain[2]], joints[chain[3]]
        along = tip - base
        length = along.norm()
        t = ((verts - base) @ along) / length ** 2
        dorsal = axes[distal_rows[finger], 1].float()  # the abduction axis points away from the palm
        radial = (verts - base) - t[:, None] * along
        w = (_smoothstep(t, 0.35, 0.55) * (1 - _smoothstep(t, 1.0, 1.1))
             * _smoothstep(normals @ dorsal, 0.3, 0.6) * (radial.norm(dim=1) < 0.6 * length))
        weight = torch.maximum(weight, w)
    return weight


def visibility_margin(verts: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """How far in front of each joint its own flesh may reach along a line of sight.

    About 1.5 finger radii for the joints of thin fingers (the distance to the 12th nearest
    vertex), and for the thick wrist and palm the bulk of the surface nearest to the joint
    (75th percentile of those vertices' distances), as slanted views see deeper flesh there.

    Args:
        verts: (V, 3) rest-pose vertices, mm.
        joints: (J, 3) rest-pose joints, mm.

    Returns:
        (J,) float32 margins in mm (3 mm added for rasterisation slack).
    """
    dist = torch.cdist(joints, verts)
    ring = 1.5 * dist.kthvalue(_VIS_NEIGHBOURS, dim=1).values
    nearest = dist.argmin(0)
    bulk = torch.stack([dist[j, nearest == j].quantile(0.75) if (nearest == j).any() else ring[j]
                        for j in range(joints.shape[0])])
    return torch.maximum(ring, bulk) + 3.0


def skin_colours(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random skin: back-of-hand tones across Fitzpatrick I-VI, and the matching palm colours.

    Args:
        n: number of hands.
        gen: random generator; the result lives on its device.

    Returns:
        (n, 3) back-of-hand and (n, 3) palm sRGB colours in [0, 1].
    """
    device = gen.device
    table = torch.tensor(_SKIN, device=device)
    t = torch.rand(n, generator=gen, device=device) * (len(_SKIN) - 1)
    i = t.floor().long().clamp(max=len(_SKIN) - 2)
    f = (t - i)[:, None]
    tone = table[i] * (1 - f) + table[i + 1] * f
    tone = tone * torch.exp(torch.randn(n, 3, generator=gen, device=device) * 0.04)
    darkness = (t / (len(_SKIN) - 1))[:, None]
    palm = tone + (torch.tensor(_PALM, device=device) - tone) * (0.1 + 0.5 * darkness)
    return tone.clamp(0, 1), palm.clamp(0, 1)


def shade_vertices(verts: torch.Tensor, normals: torch.Tensor, rest_verts: torch.Tensor,
                   palm_weight: torch.Tensor, nail_weight: torch.Tensor,
                   gen: torch.Generator) -> torch.Tensor:
    """Lit vertex colours: textured skin, ambient + wrapped diffuse + Blinn-Phong from a random light.

    Args:
        verts: (B, V, 3) camera-frame vertices, mm (the camera is at the origin).
        normals: (B, V, 3) their outward unit normals.
        rest_verts: (V, 3) rest-pose vertices, mm: the texture is attached to them.
        palm_weight: (V,) 0..1 palm (lighter) skin.
        nail_weight: (V,) 0..1 fingernail.
        gen: random generator on the vertices' device.

    Returns:
        (B, V, 3) float32 sRGB colours (may exceed 1 at highlights; clamp after interpolation).
    """
    b, device = verts.shape[0], verts.device

    def rand(shape, lo, hi):
        return torch.rand(shape, generator=gen, device=device) * (hi - lo) + lo

    tone, palm = skin_colours(b, gen)
    pw, nw = palm_weight[None, :, None], nail_weight[None, :, None]
    albedo = tone[:, None] * (1 - pw) + palm[:, None] * pw
    albedo = albedo + (torch.tensor(_NAIL, device=device) - albedo) * (0.6 * nw)
    # Low-frequency texture: a few random plane waves over the rest surface (blotches, veins).
    waves = 6
    freq = F.normalize(torch.randn(b, waves, 3, generator=gen, device=device), dim=-1)
    freq = freq * (2 * math.pi / rand((b, waves, 1), 12.0, 60.0))
    phase = rand((b, waves, 1), 0, 2 * math.pi)
    amp = rand((b, waves, 1), 0.0, 0.05)
    texture = (amp * torch.sin(freq @ rest_verts.T + phase)).sum(1)  # (B, V)
    albedo = albedo * (1 + texture[..., None])
    # Mostly from the camera's side and above; a warm or cool tint.
    light = F.normalize(torch.randn(b, 3, generator=gen, device=device)
                        + torch.tensor([0.0, -0.4, -1.3], device=device), dim=-1)[:, None]
    light_colour = (1 + rand((b, 1), -0.08, 0.08) * torch.tensor([1.0, 0.0, -1.0], device=device))[:, None]
    wrap = rand((b, 1), 0.0, 0.5)  # wrapped diffuse: light bleeding round the edge, as skin does
    diffuse = (((normals * light).sum(-1) + wrap) / (1 + wrap)).clamp(min=0)
    half = F.normalize(light - F.normalize(verts, dim=-1), dim=-1)
    spec = (normals * half).sum(-1).clamp(min=0).pow(rand((b, 1), 8.0, 40.0))
    ambient, kd, ks = rand((b, 1, 1), 0.25, 0.55), rand((b, 1, 1), 0.5, 0.85), rand((b, 1, 1), 0.0, 0.25)
    lit = ambient + kd * diffuse[..., None] * light_colour
    return albedo * lit + ks * spec[..., None] * light_colour
