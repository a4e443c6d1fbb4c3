"""What `python -m dirnet.data.synth` writes: dataset folders, contact sheets, benchmarks.

Works on any `SynthRenderer` / `SynthBatch` (dirnet.data.synth.renderer); kept apart from the renderer so
the in-memory training path does not carry file I/O.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from tqdm import tqdm

from dirnet.hand.skeleton import HAND_CONNECTIONS

if TYPE_CHECKING:
    from dirnet.data.synth.renderer import SynthBatch, SynthRenderer

__all__ = ["contact_sheet", "write_dataset", "check_output_free", "benchmark", "write_png"]

_SHEET_COLOURS = {True: (255, 230, 0), False: (255, 40, 40)}  # RGB of visible / hidden joints


def contact_sheet(batch: SynthBatch, cols: int = 8, tile: int | None = None,
                  joints: bool = False) -> np.ndarray:
    """Tile a batch into one image, optionally with its 2D joints drawn (yellow visible, red hidden).

    Args:
        batch: rendered crops.
        cols: tiles per row.
        tile: tile side in pixels (default: the crop size).
        joints: draw the skeleton from joints2d and visibility.

    Returns:
        (rows * tile, cols * tile, 3) uint8 RGB.
    """
    images = batch.images.permute(0, 2, 3, 1).cpu().numpy()
    res = images.shape[1]
    tile = tile or res
    scale = tile / res
    tiles = []
    for i, image in enumerate(images):
        image = np.ascontiguousarray(cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA))
        if joints:
            # Joint positions in the scaled tile: pixel centres at integers in both images.
            pts = (batch.joints2d[i].cpu().numpy() + 0.5) * scale - 0.5
            vis = batch.visibility[i].cpu().numpy()
            for a, b in HAND_CONNECTIONS:
                cv2.line(image, tuple(np.round(pts[a]).astype(int)), tuple(np.round(pts[b]).astype(int)),
                         (0, 255, 0), 1, cv2.LINE_AA)
            for p, v in zip(pts, vis):
                cv2.circle(image, tuple(np.round(p).astype(int)), 2, _SHEET_COLOURS[bool(v)], -1, cv2.LINE_AA)
        tiles.append(image)
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[r:r + cols], 1) for r in range(0, len(tiles), cols)]
    return np.concatenate(rows, 0)


def check_output_free(out: Path) -> None:
    """Raise FileExistsError unless `out` is missing or an empty folder."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not empty")


def write_dataset(renderer: SynthRenderer, n: int, out: str | Path, seed: int = 0, batch_size: int = 64,
                  jpeg_quality: tuple[int, int] = (60, 95)) -> Path:
    """Render n labelled crops into a folder, atomically.

    Layout: out/images/%06d.jpg (RGB crops, JPEG at a random quality in `jpeg_quality`, which is
    where these images get their JPEG artefacts), out/masks/%06d.png (hand mask, 0/255) and
    out/labels.npz with one row per image: joints2d (N, 21, 2) crop px; joints3d (N, 21, 3) mm,
    camera frame; visibility (N, 21) bool; K (N, 3, 3); angles, hand_pose (N, 15, 3); shape
    (N, S); global_orient (N, 3, 3); is_left (N,) bool; jpeg_quality (N,); and meta, a JSON
    string (res, seed, hand model, renderer config). Fields mean what `SynthBatch` says.

    Args:
        renderer: the renderer (its config's jpeg_prob should be 0: real JPEG is written here).
        n: number of images.
        out: destination folder; must not exist or be empty.
        seed: seeds the renders and the JPEG qualities.
        batch_size: images rendered per batch.
        jpeg_quality: inclusive range of JPEG quality factors.

    Returns:
        The finished folder. It is written under a temporary name beside `out` and renamed when
        complete; an interrupted run leaves nothing behind.

    Raises:
        FileExistsError: `out` exists and is not empty.
    """
    out = Path(out)
    check_output_free(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        gen = torch.Generator(device=renderer.device).manual_seed(seed)
        qualities = np.random.default_rng(seed).integers(jpeg_quality[0], jpeg_quality[1] + 1, n)
        labels: dict[str, list[np.ndarray]] = {}
        index = 0
        with tqdm(total=n, desc="rendering", unit="img") as progress:
            while index < n:
                batch = renderer.sample(min(batch_size, n - index), gen)
                images = batch.images.permute(0, 2, 3, 1).cpu().numpy()
                masks = batch.mask.cpu().numpy()
                for image, mask in zip(images, masks):
                    name = f"{index:06d}"
                    quality = [cv2.IMWRITE_JPEG_QUALITY, int(qualities[index])]
                    (tmp / "images" / f"{name}.jpg").write_bytes(_encode(".jpg", image[..., ::-1], quality))
                    cv2.imwrite(str(tmp / "masks" / f"{name}.png"), mask.astype(np.uint8) * 255)
                    index += 1
                for key in _LABEL_FIELDS:
                    labels.setdefault(key, []).append(getattr(batch, key).cpu().numpy())
                progress.update(len(batch))
        meta = {"res": renderer.res, "seed": seed, "hand_model": renderer.model.name,
                "config": asdict(renderer.config)}
        np.savez(tmp / "labels.npz", **{k: np.concatenate(v) for k, v in labels.items()},
                 jpeg_quality=qualities, meta=np.array(json.dumps(meta)))
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


_LABEL_FIELDS = ("joints2d", "joints3d", "visibility", "K", "angles", "hand_pose", "shape", "global_orient",
                 "is_left")


def benchmark(renderer: SynthRenderer, batch_size: int = 64, batches: int = 5, seed: int = 0) -> dict:
    """Time `renderer.sample` (after one warm-up batch).

    Returns:
        {"images_per_s": from the median wall time per batch, "batch_ms": that median,
        "cpu_ms": median CPU time of this process per batch, "all_ms": every batch's wall time}.
    """
    gen = torch.Generator(device=renderer.device).manual_seed(seed)
    renderer.sample(batch_size, gen)
    wall, cpu = [], []
    for _ in range(batches):
        if renderer.device.type == "cuda":
            torch.cuda.synchronize(renderer.device)
        start, start_cpu = time.perf_counter(), time.process_time()
        renderer.sample(batch_size, gen)
        if renderer.device.type == "cuda":
            torch.cuda.synchronize(renderer.device)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    median = float(np.median(wall))
    return {"images_per_s": batch_size / median * 1000, "batch_ms": median, "cpu_ms": float(np.median(cpu)),
            "all_ms": wall}



def _encode(suffix: str, bgr: np.ndarray, params: list[int]) -> bytes:
    ok, data = cv2.imencode(suffix, bgr, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {bgr.shape} image as {suffix}")
    return data.tobytes()


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB image as PNG under a temporary name, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(_encode(".png", rgb[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9]))
    os.replace(tmp, path)
