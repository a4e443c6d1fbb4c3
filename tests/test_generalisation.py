"""Held-out handshapes, scene-breaking augmentation, the spatial head and the generalisation
benchmark CLI (untrained models, data the tests write or render)."""
import json
from types import SimpleNamespace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dirnet.evaluation.benchmark import main as benchmark_main
from dirnet.config import DataSource, TrainConfig
from dirnet.data.augment import NO_AUGMENT
from dirnet.data.compose import cut_out, paste_on_backgrounds, random_convolution, skeleton_alpha
from dirnet.data.readers import read_samples
from dirnet.data.synth import SynthRenderer
from dirnet.evaluation.sources import parse_spec
from dirnet.hand import create_hand_model
from dirnet.models.dirnet import create_model
from dirnet.data.splits import hand_view, is_held_out_pose, pose_class, select_poses, select_views
from dirnet.weights import load_checkpoint, save_checkpoint

RES = 64


def test_pose_classes_come_from_the_class_named_folders():
    assert pose_class("/x/sign_digits/7__IMG_1118.jpg") == ("sign_digits", "7")
    assert pose_class("/x/asl_letters/train__B14_jpg.rf.ab.jpg") == ("asl_letters", "B")
    assert pose_class("/x/gesture_lab/palm__0a.jpg") is None
    assert is_held_out_pose("/x/sign_digits/7__IMG_1.jpg")
    assert not is_held_out_pose("/x/sign_digits/2__IMG_1.jpg")
    assert is_held_out_pose("/x/asl_letters/test__D1_jpg.jpg")
    assert not is_held_out_pose("/x/asl_letters/test__C1_jpg.jpg")


def write_teacher_folder(root: Path, sources: list[str], size: int = 96) -> Path:
    """A `python -m dirnet.data.teacher` folder whose crops name the given source photos."""
    rng = np.random.default_rng(len(sources))
    (root / "crops").mkdir(parents=True)
    with open(root / "index.jsonl", "w") as index:
        for i, source in enumerate(sources):
            cv2.imwrite(str(root / "crops" / f"{i:06d}.jpg"), rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
            joints3d = rng.normal(0, 40, (21, 3))
            index.write(json.dumps({
                "file": f"crops/{i:06d}.jpg", "source": source, "frame": None, "handedness": "right",
                "score": 0.9, "joints2d": rng.uniform(20, size - 20, (21, 2)).tolist(),
                "joints3d": (joints3d - joints3d[0]).tolist(), "box": [48, 48, 96], "res": size}) + "\n")
    return root


def test_teacher_crops_keep_their_photo_and_split_by_handshape(tmp_path):
    photos = [f"/p/sign_digits/{d}__IMG_{d}.jpg" for d in range(10)]
    root = write_teacher_folder(tmp_path / "sign_digits", photos)
    samples = read_samples("teacher", root)
    assert [str(s.source) for s in samples] == photos
    assert [pose_class(s.source)[1] for s in select_poses(samples, "seen")] == list("01234")
    assert [pose_class(s.source)[1] for s in select_poses(samples, "unseen")] == list("56789")
    assert len(select_poses(samples, "")) == 10
    spec = parse_spec(f"teacher:{root}:unseen:val=0.5")
    assert (spec.poses, spec.split, spec.val_fraction) == ("unseen", "val", 0.5)
    assert spec.name == "teacher_sign_digits_unseen_val"


def test_config_reads_augmentation_and_pose_splits():
    cfg = TrainConfig.from_dict({"augment": {"rotation_deg": 90, "scale": [0.7, 1.4], "cutout_prob": 0.3},
                                 "sources": [{"kind": "teacher", "path": "t", "poses": "seen"}]})
    assert cfg.augment.scale == (0.7, 1.4) and cfg.augment.cutout_prob == 0.3
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({"augment": False}).augment == NO_AUGMENT
    with pytest.raises(ValueError, match="unknown augment"):
        TrainConfig.from_dict({"augment": {"rotation": 3}})
    with pytest.raises(ValueError, match="poses"):
        DataSource("teacher", "t", poses="some")
    with pytest.raises(ValueError, match="view"):
        DataSource("teacher", "t", view="side")


@pytest.fixture(scope="module")
def rendered():
    renderer = SynthRenderer(create_hand_model("open"), res=128)
    return renderer.sample(8, torch.Generator().manual_seed(3)).to_right()


def test_skeleton_silhouette_matches_the_rendered_hand(rendered):
    """The matte drawn from 21 joints covers the renderer's own hand mask and little else."""
    alpha = skeleton_alpha(rendered.joints2d, 128) > 0.5
    hand = rendered.mask
    covered = (alpha & hand).sum((1, 2)) / hand.sum((1, 2)).clamp_min(1)
    iou = (alpha & hand).sum((1, 2)) / (alpha | hand).sum((1, 2)).clamp_min(1)
    assert covered.median() > 0.75, covered
    assert iou.median() > 0.5, iou


def test_pasting_keeps_the_hand_and_replaces_the_scene(rendered):
    images = rendered.images.float() / 255
    valid = torch.ones(8, 21)
    gen = torch.Generator().manual_seed(0)
    out = paste_on_backgrounds(images, rendered.joints2d, valid, 1.0, gen)
    inside = skeleton_alpha(rendered.joints2d, 128) == 1
    change = (out - images).abs().amax(1)
    assert change[inside].max() < 1e-5, "pixels of the hand stay as they were"
    far = skeleton_alpha(rendered.joints2d, 128) == 0
    assert (change[far] > 0.02).float().mean() > 0.5, "the scene around it is new"
    # A hand with an unknown joint is left alone: its matte would be wrong.
    valid[0, 4] = 0
    out = paste_on_backgrounds(images, rendered.joints2d, valid, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(out[0], images[0]) and not torch.equal(out[1], images[1])
    assert paste_on_backgrounds(images, rendered.joints2d, valid, 0.0, gen) is images


def test_view_from_2d_joints_agrees_with_the_3d_palm_normal():
    """hand_view reads palm or back from 2D alone; on rendered hands of both sides it must agree
    with the true 3D palm normal wherever the hand is not edge-on."""
    batch = SynthRenderer(create_hand_model("open"), res=128).sample(64, torch.Generator().manual_seed(5))
    j2d, j3d = batch.joints2d.double().numpy(), batch.joints3d.double().numpy()
    normal = np.cross(j3d[:, 5] - j3d[:, 0], j3d[:, 17] - j3d[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    # x right, y down, z away: index x little comes out of a right hand's palm, so a right palm
    # seen by the camera has it pointing back at the camera (z < 0); a left hand's is reversed.
    left = batch.is_left.numpy()
    palm_3d = np.where(left, normal[:, 2] > 0, normal[:, 2] < 0)
    views = np.array([hand_view(j, "left" if l else "right") for j, l in zip(j2d, left)])
    clear = np.abs(normal[:, 2]) > 0.3
    assert clear.sum() > 20 and {"palm", "back"} <= set(views[clear])
    assert ((views == "palm") == palm_3d)[clear].mean() > 0.95
    mirrored = j2d.copy()
    mirrored[..., 0] *= -1  # the mirror image of a right hand's view is the left hand's same view
    assert all(hand_view(m, "left" if not l else "right") == v for m, l, v in zip(mirrored, left, views))
    # the training filter keeps exactly the samples of a view (and drops those without 2D joints)
    samples = [SimpleNamespace(joints2d=j, handedness="left" if l else "right") for j, l in zip(j2d, left)]
    samples.append(SimpleNamespace(joints2d=None, handedness="right"))
    backs = select_views(samples, "back")
    assert len(backs) == (views == "back").sum() and all(hand_view(s.joints2d, s.handedness) == "back" for s in backs)
    assert len(select_views(samples, "")) == len(samples)


def test_cut_out_covers_part_of_the_hand(rendered):
    images = rendered.images.float() / 255
    out = cut_out(images, rendered.joints2d, 1.0, torch.Generator().manual_seed(1))
    changed = ((out - images).abs().amax(1) > 1e-3)
    hand = skeleton_alpha(rendered.joints2d, 128) > 0.5
    share = (changed & hand).sum((1, 2)) / hand.sum((1, 2))
    assert (share > 0.01).all() and (share < 0.9).all(), share


def test_random_convolution_changes_texture_and_keeps_the_hand_and_the_colours(rendered):
    images = rendered.images.float() / 255
    assert random_convolution(images, 0.0, torch.Generator().manual_seed(0)) is images
    out = random_convolution(images, 1.0, torch.Generator().manual_seed(2))
    assert out.shape == images.shape and 0.0 <= out.min() and out.max() <= 1.0
    assert ((out - images).abs().mean((1, 2, 3)) > 0.003).all()  # every crop changed ...
    # ... but each channel keeps its mean, so the crop's brightness and colour cast are its own
    assert (out.mean((2, 3)) - images.mean((2, 3))).abs().max() < 0.08
    # and the hand stays where it was: its silhouette still differs from the background
    hand = skeleton_alpha(rendered.joints2d, 128) > 0.5
    mean_in, mean_out = [(out * m[:, None]).sum((2, 3)) / m.sum((1, 2))[:, None] for m in (hand, ~hand)]
    assert ((mean_in - mean_out).abs().amax(1) > 0.01).all()


def test_spatial_head_survives_a_checkpoint_and_the_fast_path(tmp_path):
    from dirnet.evaluation.replay import fast_model
    from dirnet.models import forward_loops

    torch.manual_seed(0)
    model = create_model("dirnet_fpha", input_res=RES, max_loops=2, head="spatial").eval()
    images = torch.rand(2, 3, RES, RES)
    # Position matters to this head: the same content moved gives another h.
    refined = torch.zeros(1, model.readout.fc.out_features, 2, 2)
    refined[0, :, 0, 0] = 1
    assert not torch.allclose(model.summarize(refined), model.summarize(refined.flip(-1)))
    save_checkpoint(model, tmp_path / "spatial")
    loaded, _ = load_checkpoint(tmp_path / "spatial")
    assert loaded.cfg.head == "spatial"
    with torch.no_grad():
        eager = forward_loops(loaded, images)
        fast = forward_loops(fast_model(loaded), images)
    for a, b in zip(eager, fast):
        torch.testing.assert_close(a.joints2d, b.joints2d, atol=1e-3, rtol=1e-4)


def test_benchmark_groups_held_out_sources_poses_and_in_domain(tmp_path, capsys):
    from tests.conftest import write_checkpoint, write_synth_set

    root = tmp_path / "data"
    teacher = root / "teacher"
    write_teacher_folder(teacher / "counting_wall", [f"/p/counting_wall/set1_{i}.jpg" for i in range(4)])
    write_teacher_folder(teacher / "sign_digits", [f"/p/sign_digits/{d}__IMG_{d}{k}.jpg"
                                                   for d in range(10) for k in range(3)])
    write_teacher_folder(teacher / "gesture_lab", [f"/p/gesture_lab/palm__{i:03d}.jpg" for i in range(200)],
                         size=64)
    write_synth_set(root / "synth" / "test128", n=4)
    weights = write_checkpoint(tmp_path / "w")
    out = tmp_path / "out"
    code = benchmark_main(["--weights", str(weights), "--data-root", str(root), "--out", str(out),
                           "--asl-clip", str(tmp_path / "missing.mp4")])
    assert code == 0
    captured = capsys.readouterr()
    assert "webcam_rooms" in captured.err and "missing.mp4" in captured.err, "missing sources are named"
    result = json.loads((out / "benchmark.json").read_text())
    groups = {g["group"]: g for g in result["groups"]}
    assert set(groups) == {"held-out sources", "held-out poses", "synthetic", "in-domain"}
    assert groups["held-out sources"]["n"] == 4 and groups["held-out poses"]["n"] == 15
    in_domain = groups["in-domain"]
    # The validation share is drawn by a hash of each file's path: about 5% of 200 crops.
    assert 0 < in_domain["n"] < 40 and "teacher_gesture_lab_val" in in_domain["sources"]
    assert all(name.endswith("_val") for name in in_domain["sources"])
    for g in groups.values():
        assert g["err2d_median"] > 0 and 0 < g["gate_loops"] <= 3
    assert "| held-out poses | 15 |" in (out / "benchmark.md").read_text()
    assert (out / "benchmark.png").read_bytes()[:4] == b"\x89PNG"


def test_held_out_rows_drop_what_the_checkpoint_trained_on(tmp_path):
    """Training records every source it saw, through `init` too; the benchmark moves those out of
    the held-out rows."""
    from dirnet.evaluation.benchmark import BenchmarkConfig, assign_groups, benchmark_specs, checkpoint_trained_on
    from dirnet.training.loop import trained_on
    from tests.conftest import tiny_model

    save_checkpoint(tiny_model(), tmp_path / "parent", {"training": {"trained_on": [
        {"kind": "teacher", "path": "data/teacher/counting_wall", "poses": ""}]}})
    cfg = TrainConfig.from_dict({"init": str(tmp_path / "parent"), "sources": [
        {"kind": "teacher", "path": "data/teacher/sign_digits", "poses": "seen"}, {"kind": "synth"}]})
    seen = trained_on(cfg)
    assert {(Path(s["path"]).name, s["poses"]) for s in seen} == {
        ("sign_digits", "seen"), ("", ""), ("counting_wall", "")}
    groups = assign_groups(benchmark_specs(BenchmarkConfig(Path("w"))),
                           checkpoint_trained_on({"training": {"trained_on": seen}}))
    assert [Path(t.split(":")[1]).name for t in groups["trained on (not held out)"]] == ["counting_wall"]
    assert any("sign_digits" in t and t.endswith(":unseen") for t in groups["held-out poses"])
    assert any("webcam_rooms" in t for t in groups["held-out sources"])


def test_side_swap_flags_a_hand_read_from_the_wrong_side(rendered):
    """A pose relabelled thumb <-> little finger is flagged; the true pose and a noisy one are not."""
    from dirnet.evaluation.replay import LoopTable
    from dirnet.hand.skeleton import SIDE_SWAP

    gt = rendered.joints2d.double().numpy()
    n = len(gt)
    noisy = gt + np.random.default_rng(0).normal(0, 2, gt.shape)
    pred = noisy.copy()
    pred[::2] = gt[::2][:, list(SIDE_SWAP)]
    table = LoopTable(joints2d=pred[None], joints3d=np.zeros((1, n, 21, 3)), mean_var=np.zeros((1, n)),
                      gate_logits=np.zeros((1, n, 2)), gate_input=np.zeros((1, n, 8)), gt2d=gt,
                      gt3d=np.full((n, 21, 3), np.nan), crop256=np.ones(n), left=np.zeros(n, bool))
    assert table.side_swapped().tolist() == [True, False] * (n // 2)
