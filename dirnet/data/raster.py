"""Batched triangle rasterisation with a z-buffer, in pure PyTorch (CPU or CUDA, no OpenGL).

Each triangle enumerates the pixel centres of its bounding box in a fixed kx x ky window (triangles
are grouped by bounding-box width and height, so small ones use small windows), keeps the centres
inside it, and the nearest surface per pixel wins through one `scatter_reduce(amax)` on a packed int64 key
(float32 bits of 1/z in the high word, candidate triangle in the low word). The winners'
perspective-correct barycentrics, or directly the interpolated vertex attributes, are then
recomputed for the covered pixels only.

Pixel convention (OpenCV's, as in `dirnet.geometry`): the centre of pixel column j is at u = j, so a
W-pixel-wide image spans u in [-0.5, W - 0.5].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Fragments", "rasterize", "interpolate"]

# Window sides for the bounding-box buckets: consecutive sizes grow by <= 1.5x along each axis (2x
# for the tiny ones), so a triangle's window wastes at most ~2.25x its bounding-box area. Larger boxes
# use their exact size. Few sizes mean few buckets: each costs a dozen small tensor ops.
_WINDOWS = (2, 4, 6, 8, 12, 16, 24, 32, 48, 64)
_NEAR = 1e-3  # triangles with a vertex at z below this are dropped (behind or at the camera)


@dataclass
class Fragments:
    """What the rasteriser saw: one record per covered pixel, plus the full depth buffer.

    pixel: (N,) int64 flat index b * H * W + y * W + x of each covered pixel.
    face: (N,) int64 index into the image's face list of the surface seen there.
    depth: (B, H, W) float32 camera z of the nearest surface (input units), +inf where empty.
    bary: (N, 3) float32 perspective-correct barycentrics of that face at the pixel centre, or
        None when `rasterize` interpolated attributes itself.
    values: (N, C) float32 vertex attributes interpolated there, when `rasterize` got attrs.
    """

    pixel: torch.Tensor
    face: torch.Tensor
    depth: torch.Tensor
    bary: torch.Tensor | None = None
    values: torch.Tensor | None = None

    @property
    def mask(self) -> torch.Tensor:
        """(B, H, W) bool, True where some triangle covers the pixel centre."""
        return torch.isfinite(self.depth)


def rasterize(points: torch.Tensor, faces: torch.Tensor, height: int, width: int,
              cull_backfaces: bool = True, attrs: torch.Tensor | None = None) -> Fragments:
    """Rasterise a batch of triangle meshes into per-pixel nearest-surface fragments.

    Args:
        points: (B, V, 3) float32; [..., :2] pixel coordinates (u right, v down, pixel centres at
            integers), [..., 2] camera depth z > 0 of each vertex (any unit).
        faces: (F, 3) int64 shared by the batch, or (B, F, 3) per image. A face is front-facing
            when its corners run counter-clockwise as seen from the camera in a y-down image,
            i.e. its normal (v1 - v0) x (v2 - v0) points towards the camera.
        height: image rows H.
        width: image columns W.
        cull_backfaces: drop faces whose back is towards the camera.
        attrs: optional (B, V, C) per-vertex values to interpolate (perspective-correct) at the
            covered pixels; then the fragments carry `values` instead of `bary`, which is
            cheaper than `interpolate` afterwards.

    Returns:
        Fragments for the (B, H, W) images.

    Raises:
        ValueError: if points or faces have the wrong shape.
    """
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be (B, V, 3), got {tuple(points.shape)}")
    if faces.shape[-1] != 3 or faces.dim() not in (2, 3):
        raise ValueError(f"faces must be (F, 3) or (B, F, 3), got {tuple(faces.shape)}")
    device = points.device
    batch, num_faces = points.shape[0], faces.shape[-2]
    num_verts = points.shape[1]
    # Struct-of-arrays layout: coordinate planes (3, B*V), gathered to (coord, corner, face) so
    # every per-face quantity below is a contiguous vector.
    planes = points.float().reshape(-1, 3).T.contiguous()
    offset = (torch.arange(batch, device=device) * num_verts)[:, None, None]
    corners = (faces.expand(batch, -1, -1) + offset).reshape(-1, 3).T  # (3, B*F)
    # index_select: much faster than advanced indexing for these large gathers on CPU.
    tri = planes.index_select(1, corners.reshape(-1)).view(3, 3, -1)
    (x0, x1, x2), (y0, y1, y2), z = tri[0], tri[1], tri[2]
    area2 = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    # Screen-space area is negative for a front face here: y points down, so the on-screen turn
    # of a camera-facing counter-clockwise triangle reverses.
    keep = (area2 < 0) if cull_backfaces else (area2 != 0)
    keep &= (torch.minimum(torch.minimum(z[0], z[1]), z[2]) > _NEAR)
    # Culling first: the bounding boxes below are only computed for the faces kept so far.
    rows = keep.nonzero().squeeze(1)  # as flat indices b * F + f
    tri, area2 = tri.index_select(2, rows), area2[rows]
    (x0, x1, x2), (y0, y1, y2) = tri[0], tri[1]
    xmin = torch.minimum(torch.minimum(x0, x1), x2).ceil_().clamp_(min=0)
    xmax = torch.maximum(torch.maximum(x0, x1), x2).floor_().clamp_(max=width - 1)
    ymin = torch.minimum(torch.minimum(y0, y1), y2).ceil_().clamp_(min=0)
    ymax = torch.maximum(torch.maximum(y0, y1), y2).floor_().clamp_(max=height - 1)
    sel = ((xmax >= xmin) & (ymax >= ymin)).nonzero().squeeze(1)  # covers at least one pixel centre
    # Sort the candidates by window shape once, so each window bucket below is a contiguous slice.
    xmin, ymin = xmin[sel], ymin[sel]
    bw = (xmax[sel] - xmin).long() + 1
    bh = (ymax[sel] - ymin).long() + 1
    nwin = len(_WINDOWS) + 1  # the last bucket holds boxes wider than any window, at their size
    lut = torch.bucketize(torch.arange(_WINDOWS[-1] + 2, device=device),
                          torch.tensor(_WINDOWS, device=device))  # side -> bucket
    bucket_of = lut[bw.clamp(max=_WINDOWS[-1] + 1)] * nwin + lut[bh.clamp(max=_WINDOWS[-1] + 1)]
    order = torch.argsort(bucket_of)
    counts = torch.bincount(bucket_of, minlength=nwin * nwin).tolist()
    bw, bh, xmin, ymin = bw[order], bh[order], xmin[order], ymin[order]
    sel = sel[order]
    rows, area2, tri = rows[sel], area2[sel], tri.index_select(2, sel)  # candidate triangles
    # Barycentric i is a plane a_i * dx + b_i * dy + c_i over window offsets (dx, dy) from the
    # box corner; local coordinates keep the float32 constants small and precise.
    lx, ly, z = tri[0] - xmin, tri[1] - ymin, tri[2]  # (corner, N)
    j, k = [1, 2, 0], [2, 0, 1]
    coef = torch.stack((ly[j] - ly[k], lx[k] - lx[j], lx[j] * ly[k] - lx[k] * ly[j]))
    coef /= area2  # (abc, corner, N)
    # Barycentric i over z_i is the perspective-correct weight before normalisation; these
    # planes sum to 1/z, which is therefore affine in screen space too.
    persp_coef = coef / z
    iz_coef = persp_coef.sum(1)  # (abc, N)

    pix_base = (rows // num_faces) * (height * width) + ymin.long() * width + xmin.long()
    cand_ids = torch.arange(rows.numel(), device=device, dtype=torch.int32)
    sizes = _WINDOWS + (None,)
    jobs = []
    start = 0
    for bucket, count in enumerate(counts):
        if count:
            sl = slice(start, start + count)
            kx, ky = sizes[bucket // nwin], sizes[bucket % nwin]
            jobs.append((sl, kx or int(bw[sl].max()), ky or int(bh[sl].max())))
            start += count
    # Windows may reach past the last row; those candidates never win, but need somewhere to go.
    pad = (max((ky for _, _, ky in jobs), default=0) + 1) * width
    zbuf = torch.full((batch * height * width + pad,), -1, dtype=torch.int64, device=device)
    for sl, kx, ky in jobs:
        dx = torch.arange(kx, device=device, dtype=torch.float32)
        dy = torch.arange(ky, device=device, dtype=torch.float32)
        outside_x = dx >= bw[sl, None]  # (n, kx)
        outside_y = dy >= bh[sl, None]  # (n, ky)
        c = coef[:, :, sl]
        # Each plane is separable: a row term over dx plus a column term over dy, so the window
        # costs one add per edge. -inf outside the box rejects those pixels in the min below.
        row = c[0, :, :, None] * dx + c[2, :, :, None]  # (corner, n, kx)
        col = c[1, :, :, None] * dy  # (corner, n, ky)
        row[0].masked_fill_(outside_x, float("-inf"))
        col[0].masked_fill_(outside_y, float("-inf"))
        edge = row[0, :, None, :] + col[0, :, :, None]  # (n, ky, kx)
        tmp = torch.add(row[1, :, None, :], col[1, :, :, None])
        torch.minimum(edge, tmp, out=edge)
        torch.add(row[2, :, None, :], col[2, :, :, None], out=tmp)
        torch.minimum(edge, tmp, out=edge)
        izc = iz_coef[:, sl]
        torch.add((izc[0, :, None] * dx + izc[2, :, None])[:, None, :], (izc[1, :, None] * dy)[:, :, None],
                  out=tmp)
        # Outside pixels have a negative edge value; scaled huge, it takes the place of 1/z in the
        # min, while inside ones keep 1/z (a pixel exactly on an edge gets 0, i.e. no hit).
        iz = torch.minimum(tmp, edge.mul_(1e30), out=tmp)
        # Key = (float32 bits of 1/z) << 32 | candidate, built as an int32 pair (little-endian):
        # positive float bits order like the floats, so the largest 1/z (nearest) wins; negative
        # and zero 1/z give keys below 2**32, which the decoding below treats as empty.
        key = torch.stack((cand_ids[sl, None, None].expand_as(iz), iz.view(torch.int32)), -1)
        offs = dy.long()[:, None] * width + dx.long()
        zbuf.scatter_reduce_(0, (pix_base[sl, None, None] + offs).view(-1),
                             key.view(torch.int64).view(-1), reduce="amax")
    zbuf = zbuf[:batch * height * width]

    pixel = (zbuf >= 2**32).nonzero().squeeze(1)  # 1/z > 0 in the high word
    key = zbuf.index_select(0, pixel)
    cand = key & 0xFFFFFFFF
    iz = (key >> 32).int().view(torch.float32)
    depth = torch.full((batch * height * width,), float("inf"), device=device)
    depth[pixel] = 1.0 / iz
    # Recompute at each winner the perspective-correct barycentric planes (or, with attrs, the
    # attribute planes they weight), gathered as one row per winner, at the pixel's window offset.
    if attrs is None:
        win_planes = persp_coef  # (abc, corner, N)
    else:
        values = attrs.float().reshape(-1, attrs.shape[-1]).T.index_select(1, corners[:, rows].reshape(-1))
        values = values.view(-1, 3, rows.numel())  # (C, corner, N)
        win_planes = (persp_coef[:, None] * values[None]).sum(2)  # (abc, C, N)
    channels = win_planes.shape[1]
    pc = win_planes.reshape(3 * channels, -1).T.contiguous().index_select(0, cand).view(-1, 3, channels)
    # offset = dy * W + dx from the box corner, 0 <= dx < W (a winner lies inside its box); float32
    # division is exact enough for offsets below 2**24 and far cheaper than integer division.
    offset = (pixel - pix_base.index_select(0, cand)).float()
    dy = offset.add(0.5).div_(width).floor_()
    dx = offset.sub_(dy * width)
    weight = pc[:, 2].clone()
    weight.addcmul_(pc[:, 0], dx[:, None]).addcmul_(pc[:, 1], dy[:, None])
    frags = Fragments(pixel=pixel, face=rows[cand] % num_faces, depth=depth.view(batch, height, width))
    if attrs is None:
        weight.clamp_(min=0)
        frags.bary = weight / weight.sum(1, keepdim=True).clamp_(min=1e-12)
    else:
        frags.values = weight.div_(iz[:, None])  # the barycentric planes sum to 1/z
    return frags

def interpolate(fragments: Fragments, faces: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
    """Interpolate per-vertex attributes at the covered pixels.

    Args:
        fragments: output of `rasterize` for the same batch.
        faces: the (F, 3) or (B, F, 3) faces given to `rasterize`.
        attrs: (B, V, C) per-vertex values.

    Returns:
        (N, C) values at `fragments.pixel`, in attrs' dtype.
    """
    batch = fragments.depth.shape[0]
    hw = fragments.depth.shape[1] * fragments.depth.shape[2]
    img = fragments.pixel // hw
    corners = faces[fragments.face] if faces.dim() == 2 else faces[img, fragments.face]
    flat = attrs.reshape(batch * attrs.shape[1], -1)
    vals = flat[corners + (img * attrs.shape[1])[:, None]]  # (N, 3, C)
    return (vals * fragments.bary[..., None].to(vals.dtype)).sum(1)
