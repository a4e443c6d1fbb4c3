"""Synthetic hand crops with exact labels, rendered in batches by pure PyTorch (CPU or CUDA).

`SynthRenderer(hand_model, res, device).sample(batch, generator)` poses the hand model at random
(see `dirnet.data.synth.pose`), mirrors about half of the hands into left hands, places each in a
random pinhole camera so it fills 50-90% of the crop like a detector box would (sometimes cut by
the border), shades it per vertex (skin tones across Fitzpatrick I-VI with low-frequency texture,
palms and nails, ambient + wrapped diffuse + Blinn-Phong specular from a random light), rasterises
it with `dirnet.data.raster`, puts it on a procedural or photo background, adds occluders and
distractor hands, then camera effects (`dirnet.data.photometric`). Labels come from the same
geometry, so they are exact: 2D/3D joints, pose, shape, intrinsics, mask and per-joint visibility.
The command that writes datasets, contact sheets and benchmarks is `python -m dirnet.data.synth`
(dirnet.data.synth.__main__); docs/SYNTH.md has more.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch

from dirnet.data.backgrounds import BackgroundBank, hand_blob_alpha, procedural_backgrounds, shape_alpha
from dirnet.data.photometric import (
    NoisePatterns, add_noise, apply_colour_jitter, box_blur, jitter_params, jpeg_like, noise_std,
)
from dirnet.data.raster import rasterize
from dirnet.data.synth.mesh import (
    face_adjacency, forearm_template, nail_weight, outward_faces, shade_vertices, skin_colours, vertex_normals,
    visibility_margin,
)
from dirnet.data.synth.pose import (
    GESTURE_NAMES, axis_rotation, place_hand, project, sample_angles, sample_intrinsics,
    sample_orientation, sample_shape,
)
from dirnet.hand.base import HandModel
from dirnet.hand.poses import gesture_angles
from dirnet.hand.skeleton import HandJoint

__all__ = ["SynthConfig", "SynthBatch", "SynthRenderer"]


@dataclass(frozen=True)
class SynthConfig:
    """Sampling and appearance knobs of the renderer (probabilities are per image)."""

    left_prob: float = 0.5  # mirror into a left hand; 0 gives right hands only
    gesture_prob: float = 0.3  # pose near a named gesture instead of a free random pose
    fill: tuple[float, float] = (0.5, 0.9)  # longer side of the hand's 2D box / crop side
    centre_std: float = 0.05  # jitter of the box centre, in crop sides
    truncation_prob: float = 0.15  # push the hand towards the border, so it is cut off
    photo_prob: float = 0.6  # photo background when a BackgroundBank is given, else procedural
    occluder_prob: float = 0.25  # a random object in front of part of the hand
    distractor_prob: float = 0.12  # a second hand-like blob, in front or behind
    strong_blur_prob: float = 0.25  # blur of sigma ~0.8-1.2 px (defocus, motion); else 0.25-0.7 px
    noise_std: float = 0.04  # largest sensor noise std at full brightness
    jpeg_prob: float = 0.4  # in-memory JPEG-like artefacts (the CLI writes real JPEGs instead)
    jpeg_quality: tuple[float, float] = (30.0, 95.0)
    colour_strength: float = 1.0  # scale of the colour jitter ranges


@dataclass
class SynthBatch:
    """A rendered batch; every tensor lives on the renderer's device.

    images: (B, 3, R, R) uint8 RGB.
    joints2d: (B, 21, 2) float32 crop pixels (pixel centres at integers), MediaPipe order.
    joints3d: (B, 21, 3) float32 mm, camera frame (x right, y down, z away); NOT wrist-relative:
        subtract joints3d[:, :1] for root-relative targets.
    visibility: (B, 21) bool, joint inside the crop and not hidden by the hand or an occluder.
    mask: (B, R, R) bool, hand pixels left visible after occluders.
    K: (B, 3, 3) float32 intrinsics in crop pixels; joints2d = project(K, joints3d) exactly.
    angles: (B, 15, 3) float32 anatomical angles (radians, see `dirnet.hand.poses`).
    hand_pose: (B, 15, 3) float32 axis-angle, MANO order, of the right hand.
    shape: (B, S) float32 hand model shape.
    global_orient: (B, 3, 3) float32 rotation of the right hand (canonical -> camera axes).
    is_left: (B,) bool. A left sample shows the right hand described by angles/hand_pose/shape/
        global_orient mirrored through x = 0; images, joints, K, mask and visibility describe the
        left hand as rendered. `to_right()` mirrors those back.
    """

    images: torch.Tensor
    joints2d: torch.Tensor
    joints3d: torch.Tensor
    visibility: torch.Tensor
    mask: torch.Tensor
    K: torch.Tensor
    angles: torch.Tensor
    hand_pose: torch.Tensor
    shape: torch.Tensor
    global_orient: torch.Tensor
    is_left: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def to_right(self) -> "SynthBatch":
        """Mirror the left samples back into right hands (image flip, u -> R-1-u, x -> -x, cx -> R-1-cx).

        Returns:
            A new batch in which every sample is a right hand; is_left is unchanged, so callers
            still know which samples were mirrored.
        """
        res = self.images.shape[-1]
        left = self.is_left
        images = torch.where(left[:, None, None, None], self.images.flip(-1), self.images)
        mask = torch.where(left[:, None, None], self.mask.flip(-1), self.mask)
        j2d = self.joints2d.clone()
        j2d[left, :, 0] = (res - 1) - j2d[left, :, 0]
        j3d = self.joints3d.clone()
        j3d[left, :, 0] = -j3d[left, :, 0]
        K = self.K.clone()
        K[left, 0, 2] = (res - 1) - K[left, 0, 2]
        return replace(self, images=images, mask=mask, joints2d=j2d, joints3d=j3d, K=K)

    def to(self, device: torch.device | str) -> "SynthBatch":
        return SynthBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


class SynthRenderer:
    """Renders random labelled hand crops in batches on one device.

    Attributes:
        model: the hand model, on `device`.
        res: crop side in pixels.
        device: where every tensor of a batch lives.
        config: the SynthConfig in use.
        backgrounds: optional BackgroundBank of photo patches.
    """

    def __init__(self, hand_model: HandModel, res: int = 224, device: torch.device | str = "cpu",
                 backgrounds: BackgroundBank | None = None, config: SynthConfig = SynthConfig()) -> None:
        """Prepare the model's per-vertex appearance data.

        Args:
            hand_model: a right hand with anatomical helpers (`angle_limits`, `angles_to_pose`).
            res: crop side in pixels, a multiple of 16 (the JPEG-like 8x8 blocks on 4:2:0 chroma).
            device: torch device of the batches ("cpu", "cuda", ...).
            backgrounds: photo patches; moved to `device`; None = procedural backgrounds only.
            config: sampling and appearance settings.

        Raises:
            ValueError: `res` is not a positive multiple of 16, or the model lacks angle helpers.
        """
        if res <= 0 or res % 16:
            raise ValueError(f"res must be a positive multiple of 16, got {res}")
        missing = [a for a in ("angle_limits", "angles_to_pose") if not hasattr(hand_model, a)]
        if missing:
            raise ValueError(f"hand model {hand_model.name!r} lacks {missing} needed to sample poses")
        self.device = torch.device(device)
        self.model = hand_model.to(self.device).eval()
        self.res = res
        self.config = config
        self.backgrounds = backgrounds.to(self.device) if backgrounds is not None else None
        self.limits = hand_model.angle_limits.float()
        self.rest_flex = getattr(hand_model, "rest_flexion", torch.zeros(15, device=self.device)).float()
        gestures = [torch.from_numpy(gesture_angles(name)) for name in GESTURE_NAMES]
        self.gestures = torch.stack(gestures).to(self.device)
        with torch.no_grad():
            rest = hand_model(torch.eye(3, device=self.device)[None],
                              torch.zeros(1, 15, 3, device=self.device),
                              torch.zeros(1, hand_model.num_shape, device=self.device))
        verts, joints = rest.vertices[0], rest.joints[0]
        hand_faces = outward_faces(verts, hand_model.faces)
        arm_verts, arm_faces, self.arm_pivot = forearm_template(verts)
        self.num_hand_verts, self.num_hand_faces = verts.shape[0], hand_faces.shape[0]
        self.arm_rest = arm_verts
        self.arm_bend = (arm_verts[:, 1] > self.arm_pivot[1] + 1.0).float()[:, None]  # rings past the hinge
        # The rasteriser culls by winding, so every face winds outwards; mirrored hands flip it.
        self.faces = torch.cat([hand_faces, arm_faces + verts.shape[0]])
        self.faces_mirrored = self.faces[:, [0, 2, 1]]
        self.rest_verts = torch.cat([verts, arm_verts])
        self.adjacency = face_adjacency(self.faces, len(self.rest_verts))
        normals = vertex_normals(self.rest_verts[None], self.faces, self.adjacency)[0]
        # Palms face -z at rest and are lighter; the inner forearm only a little.
        self.palm_weight = torch.sigmoid(8 * (-normals[:, 2] - 0.15))
        self.palm_weight[verts.shape[0]:] *= 0.3
        self.nail_weight = torch.cat([nail_weight(verts, normals[:verts.shape[0]], joints, hand_model),
                                      torch.zeros(arm_verts.shape[0], device=self.device)])
        self.vis_margin = visibility_margin(verts, joints)
        self.rest_size = (joints[HandJoint.MIDDLE_MCP] - joints[HandJoint.WRIST]).norm()
        self._noise = NoisePatterns(res, self.device)

    def _pose_forearm(self, orient: torch.Tensor, joints: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """(B, Va, 3) forearm vertices: the template bent at the wrist and scaled with the hand."""
        n = orient.shape[0]
        size = (joints[:, HandJoint.MIDDLE_MCP] - joints[:, HandJoint.WRIST]).norm(dim=-1) / self.rest_size
        flex = torch.randn(n, generator=gen, device=self.device) * (12 * math.pi / 180)
        deviation = torch.randn(n, generator=gen, device=self.device) * (6 * math.pi / 180)
        bend = axis_rotation(deviation, 2) @ axis_rotation(flex, 0)
        # Bend about the hinge at the end of the wrist stub, so the join itself never opens.
        rel = self.arm_rest - self.arm_pivot
        arm = self.arm_rest + self.arm_bend * (rel @ bend.transpose(1, 2) - rel)
        return (arm * size[:, None, None]) @ orient.transpose(1, 2)

    def _rand(self, shape, gen, lo=0.0, hi=1.0) -> torch.Tensor:
        return torch.rand(shape, generator=gen, device=self.device) * (hi - lo) + lo

    def _backgrounds(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """(n, 3, R, R) float: photo patches (share photo_prob when a bank is given) or procedural."""
        photo = self._rand(n, gen) < (self.config.photo_prob if self.backgrounds is not None else 0.0)
        if not photo.any():  # no copy into a batch tensor when every background is procedural
            return procedural_backgrounds(n, self.res, gen)
        out = torch.empty(n, 3, self.res, self.res, device=self.device)
        for idx, source in ((photo.nonzero().squeeze(1), self.backgrounds),
                            ((~photo).nonzero().squeeze(1), None)):
            if idx.numel():
                # index_copy_/index_select: far cheaper than advanced indexing for whole images.
                out.index_copy_(0, idx, source.sample(idx.numel(), gen) if source is not None
                                else procedural_backgrounds(idx.numel(), self.res, gen))
        return out

    def _pick(self, n: int, prob: float, gen: torch.Generator) -> torch.Tensor:
        """Indices of the images (out of n) that get an effect applied with probability prob."""
        return (self._rand(n, gen) < prob).nonzero().squeeze(1)

    def _draw_distractors(self, image: torch.Tensor, idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Blend skin-coloured hand blobs near the border into image[idx]; returns their (m, R, R) alpha."""
        m, res = idx.numel(), self.res
        angle = self._rand(m, gen, 0, 2 * math.pi)
        radius = self._rand((m, 1), gen, 0.35, 0.6) * res
        centre = (res - 1) / 2 + radius * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
        alpha = hand_blob_alpha(centre, self._rand(m, gen, 0.5, 1.0) * res, res, gen)
        tone, _ = skin_colours(m, gen)
        shading = 0.7 + 0.3 * procedural_backgrounds(m, res, gen).mean(1, keepdim=True)
        image.index_copy_(0, idx, torch.lerp(image.index_select(0, idx), tone[:, :, None, None] * shading,
                                             alpha[:, None]))
        return alpha

    def _draw_occluders(self, image: torch.Tensor, idx: torch.Tensor, texture: torch.Tensor,
                        joints2d: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Blend shapes cut from `texture` (m, 3, R, R) over part of the hand in image[idx].

        Returns:
            (m, R, R) their coverage.
        """
        m, res = idx.numel(), self.res
        joint = torch.randint(0, joints2d.shape[1], (m,), generator=gen, device=self.device)
        centre = joints2d[idx, joint] + torch.randn(m, 2, generator=gen, device=self.device) * (0.1 * res)
        alpha = shape_alpha(centre, self._rand(m, gen, 0.08, 0.25) * res, res, gen)
        image.index_copy_(0, idx, torch.lerp(image.index_select(0, idx), texture, alpha[:, None]))
        return alpha

    def _visibility(self, joints: torch.Tensor, joints2d: torch.Tensor, depth: torch.Tensor,
                    occlusion: torch.Tensor, hand_joints: torch.Tensor) -> torch.Tensor:
        """(B, 21) bool: inside the crop, no surface far in front of the joint, no occluder on it."""
        n, res = joints.shape[0], self.res
        px = joints2d.round().long()
        inside = ((px >= 0) & (px < res)).all(-1)
        px = px.clamp(0, res - 1)
        batch = torch.arange(n, device=self.device)[:, None]
        surface = depth[batch, px[..., 1], px[..., 0]]
        # A joint lies inside its finger: the hand's own surface in front of it is within about
        # the finger's radius (scaled with the hand), anything nearer the camera hides it.
        scale = (hand_joints[:, HandJoint.MIDDLE_MCP] - hand_joints[:, HandJoint.WRIST]).norm(dim=-1)
        margin = self.vis_margin[None] * (scale / self.rest_size)[:, None]
        clear = occlusion[batch, px[..., 1], px[..., 0]] < 0.5
        return inside & (surface >= joints[..., 2] - margin) & clear

    def _camera_effects(self, image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Colour jitter, blur (always a little: it also anti-aliases), sensor noise, JPEG-like.

        Every random strength is drawn for the whole batch first; the effects then run one image
        at a time, so the chain of full-image passes works in cache instead of main memory.

        Returns:
            (B, 3, R, R) uint8 RGB.
        """
        cfg, n = self.config, image.shape[0]
        jitter = jitter_params(n, gen, cfg.colour_strength)
        blur = self._rand(n, gen, 0.03, 0.25)
        strong = self._pick(n, cfg.strong_blur_prob, gen)
        strong_blur = torch.stack([self._rand(strong.numel(), gen, 0.1, 0.25) for _ in range(2)], 1)
        origins = self._noise.offsets(n, gen)
        std = noise_std(n, gen, cfg.noise_std)
        jpeg = self._pick(n, cfg.jpeg_prob, gen)
        quality = self._rand(jpeg.numel(), gen, *cfg.jpeg_quality)
        extra_blur = dict(zip(strong.tolist(), strong_blur))
        quality_of = dict(zip(jpeg.tolist(), quality[:, None]))
        out = torch.empty(image.shape, dtype=torch.uint8, device=self.device)
        for i in range(n):
            one = apply_colour_jitter(image[i:i + 1], [p[i:i + 1] for p in jitter])
            box_blur(one, blur[i:i + 1])
            if i in extra_blur:
                box_blur(box_blur(one, extra_blur[i][:1]), extra_blur[i][1:])
            one = add_noise(one, self._noise.window(origins[i]), std[i:i + 1], out=torch.empty_like(one))
            if i in quality_of:
                one = jpeg_like(one, quality_of[i])
            out[i:i + 1] = one.mul_(255).add_(0.5)  # in [0, 1] already: truncation rounds
        return out

    def _faces(self, is_left: torch.Tensor, with_forearm: bool) -> torch.Tensor:
        """(B, F, 3) faces per image: mirrored (left) hands have their winding flipped."""
        faces = torch.where(is_left[:, None, None], self.faces_mirrored, self.faces)
        return faces if with_forearm else faces[:, :self.num_hand_faces]

    def _rasterize(self, verts: torch.Tensor, K: torch.Tensor, faces: torch.Tensor,
                   colours: torch.Tensor | None = None):
        """Project camera-frame vertices and rasterise them (interpolating colours if given)."""
        points = torch.cat([project(verts, K), verts[..., 2:]], -1)
        return rasterize(points, faces, self.res, self.res, attrs=colours)

    def _hand_pixels(self, frags) -> torch.Tensor:
        """(B, R, R) bool: pixels whose nearest surface belongs to the hand (not the forearm)."""
        mask = torch.zeros(frags.depth.numel(), dtype=torch.bool, device=self.device)
        mask[frags.pixel[frags.face < self.num_hand_faces]] = True
        return mask.view_as(frags.depth)

    @torch.no_grad()
    def hand_mask(self, global_orient: torch.Tensor, hand_pose: torch.Tensor, shape: torch.Tensor,
                  transl: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        """Silhouette of given right hands (no forearm, no occluders) through the batch pipeline.

        Args:
            global_orient: (B, 3, 3) rotations, canonical -> camera axes.
            hand_pose: (B, 15, 3) axis-angle (e.g. `model.angles_to_pose(angles)`).
            shape: (B, num_shape).
            transl: (B, 3) mm, camera-frame position of the wrist.
            K: (B, 3, 3) intrinsics, crop pixels.

        Returns:
            (B, R, R) bool hand mask.
        """
        posed = self.model(global_orient, hand_pose, shape)
        verts = posed.vertices + transl[:, None]
        is_left = torch.zeros(verts.shape[0], dtype=torch.bool, device=self.device)
        return self._hand_pixels(self._rasterize(verts, K, self._faces(is_left, with_forearm=False)))

    @torch.no_grad()
    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> SynthBatch:
        """Render a batch of random labelled hand crops.

        Args:
            batch_size: number of crops B.
            generator: torch.Generator on the renderer's device; None draws a seed from torch's
                global generator. The same seed gives the same batch on the same device.

        Returns:
            SynthBatch on the renderer's device (see its docstring for every field).
        """
        cfg, dev, res, n = self.config, self.device, self.res, batch_size
        if generator is None:
            generator = torch.Generator(device=dev)
            generator.manual_seed(int(torch.randint(0, 2**62, (1,))))
        gen = generator
        angles = sample_angles(n, self.limits, self.rest_flex, self.gestures, gen, cfg.gesture_prob)
        hand_pose = self.model.angles_to_pose(angles)
        shape = sample_shape(n, self.model.name, self.model.num_shape, gen, dev)
        orient = sample_orientation(n, gen, dev)
        posed = self.model(orient, hand_pose, shape)
        is_left = self._rand(n, gen) < cfg.left_prob
        mirror = torch.ones(n, 1, 3, device=dev)
        mirror[is_left, 0, 0] = -1
        verts = torch.cat([posed.vertices, self._pose_forearm(orient, posed.joints, gen)], 1) * mirror
        joints = posed.joints * mirror

        K = sample_intrinsics(n, res, gen, dev)
        size = self._rand(n, gen, *cfg.fill) * res
        centre = (res - 1) / 2 + torch.randn(n, 2, generator=gen, device=dev) * (cfg.centre_std * res)
        push = self._rand(n, gen, 0, 2 * math.pi)
        push_len = self._rand(n, gen, 0.2, 0.4) * res * (self._rand(n, gen) < cfg.truncation_prob)
        centre = centre + push_len[:, None] * torch.stack([torch.cos(push), torch.sin(push)], 1)
        transl = place_hand(verts[:, :self.num_hand_verts], K, centre, size)
        verts, joints = verts + transl[:, None], joints + transl[:, None]

        joints2d = project(joints, K)
        faces = self._faces(is_left, with_forearm=True)
        # Mirroring turns the right hand's outward normals inwards: flip them back for left hands.
        normals = vertex_normals(verts, self.faces, self.adjacency) * (1 - 2 * is_left.float())[:, None, None]
        colours = shade_vertices(verts, normals, self.rest_verts, self.palm_weight, self.nail_weight, gen)
        frags = self._rasterize(verts, K, faces, colours)

        image = self._backgrounds(n, gen)
        occluded = self._pick(n, cfg.occluder_prob, gen)
        # Occluders are textured with another image's background, mirrored (no extra texture cost).
        occluder_texture = image.index_select(0, (occluded + 1) % n).flip(-1)
        distract = self._pick(n, cfg.distractor_prob, gen)
        in_front = self._rand(distract.numel(), gen) < 0.5
        # Distractor hands behind ours go on the background before the hand is drawn.
        behind = distract[~in_front]
        if behind.numel():
            self._draw_distractors(image, behind, gen)
        hw = res * res
        # Pixel b * hw + p goes to channel planes b * 3 hw + c hw + p: shift by 2 hw per image.
        flat = (frags.pixel + frags.pixel.int().div(hw, rounding_mode="floor") * (2 * hw))[:, None]
        flat = flat + torch.arange(3, device=dev) * hw
        image.view(-1).index_put_((flat.view(-1),), frags.values.clamp_(0, 1).view(-1))
        occlusion = torch.zeros(n, res, res, device=dev)
        front = distract[in_front]
        if front.numel():
            occlusion[front] = self._draw_distractors(image, front, gen)
        if occluded.numel():
            alpha = self._draw_occluders(image, occluded, occluder_texture, joints2d, gen)
            occlusion[occluded] = torch.maximum(occlusion[occluded], alpha)

        mask = self._hand_pixels(frags) & (occlusion < 0.5)
        visibility = self._visibility(joints, joints2d, frags.depth, occlusion, posed.joints)
        images = self._camera_effects(image, gen)
        return SynthBatch(images=images, joints2d=joints2d, joints3d=joints, visibility=visibility,
                          mask=mask, K=K, angles=angles, hand_pose=hand_pose, shape=shape,
                          global_orient=orient, is_left=is_left)
