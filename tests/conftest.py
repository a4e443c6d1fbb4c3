"""Shared test helpers: ../shared, the Qt platform for widget tests, a private config home, and the
small real models, datasets, hands and frames several test modules build."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# No test may read or write the user's own settings or gestures, nor may the app it starts in a
# subprocess: the config home (app.config's defaults) is a fresh folder for the session.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="dirnet-test-config-")
atexit.register(shutil.rmtree, os.environ["XDG_CONFIG_HOME"], True)

SHARED = Path(os.environ.get("DIRNET_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
REQUIRE_SHARED = os.environ.get("REQUIRE_SHARED") == "1"


def shared_path(*parts: str) -> Path:
    """Path under ../shared; skips the test when it is missing, fails instead if REQUIRE_SHARED=1."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} is missing (../shared beside the checkout)"
        if REQUIRE_SHARED:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def clip_frame():
    """The ASL clip's first frame (RGB) and MediaPipe's 2D landmarks for it (frame px)."""
    import json

    import cv2
    import numpy as np

    video = shared_path("data", "asl_video", "asl_hand.25fps.mp4")
    reference = json.loads(shared_path("data", "asl_video", "asl_hand.full.json").read_text())
    ok, bgr = cv2.VideoCapture(str(video)).read()
    assert ok
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.array(reference[0])[:, :2]


# --- models and data sets (dirnet) ------------------------------------------------------------------

TINY_RES = 64  # smallest input the network takes comfortably; keeps every test fast


def tiny_model(seed: int = 0, max_loops: int = 3):
    """An untrained 64 px model whose gate and variances vary from sample to sample and loop to loop."""
    import torch

    from dirnet.models import create_model

    torch.manual_seed(seed)
    model = create_model("dirnet_fpha", input_res=TINY_RES, max_loops=max_loops).eval()
    with torch.no_grad():  # the default init makes every exit decision the same: spread them
        model.gate.mlp[-1].weight.normal_(0, 2.0)
        model.var_head.var2.weight.normal_(0, 0.5)
    return model


def write_checkpoint(path: Path, seed: int = 0) -> Path:
    """tiny_model(seed) saved as a checkpoint with gate defaults."""
    from dirnet.weights import save_checkpoint

    save_checkpoint(tiny_model(seed), path, {"defaults": {"exit_mode": "gate", "tau_var": 20.0,
                                                          "tau_gate": 1.0, "max_loops": 3}})
    return path


def write_teacher_set(root: Path, n: int = 6, seed: int = 0) -> Path:
    """A dataset in `python -m dirnet.data.teacher`'s format: noise crops with random joints."""
    import json

    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    (root / "crops").mkdir(parents=True)
    with open(root / "index.jsonl", "w") as index:
        for i in range(n):
            cv2.imwrite(str(root / "crops" / f"{i:06d}.jpg"), rng.integers(0, 255, (96, 96, 3), dtype=np.uint8))
            joints3d = rng.normal(0, 40, (21, 3))
            joints3d -= joints3d[0]
            index.write(json.dumps({
                "file": f"crops/{i:06d}.jpg", "source": "noise", "frame": None,
                "handedness": "left" if i % 2 else "right", "score": 0.9,
                "joints2d": rng.uniform(20, 76, (21, 2)).tolist(), "joints3d": joints3d.tolist(),
                "box": [48, 48, 96], "res": 96}) + "\n")
    return root


def write_synth_set(root: Path, n: int = 6) -> Path:
    """A real `python -m dirnet.data.synth` folder: rendered hands with exact labels."""
    from dirnet.data.synth import SynthRenderer, write_dataset
    from dirnet.hand import create_hand_model

    return write_dataset(SynthRenderer(create_hand_model("open"), res=TINY_RES), n, root, batch_size=n)


def randomize(model, seed: int = 0):
    """Distinct BatchNorm statistics per loop and spread-out uncertainty/gate outputs (eval mode).

    An untrained model's BatchNorms are identities and all its samples exit alike, which would
    let a wrong fold (e.g. loop 0's statistics for every loop) or a wrong exit pass unnoticed.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.uniform_(0.6, 1.4, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
        model.var_head.var2.weight.normal_(0.0, 0.05, generator=g)
        model.gate.mlp[2].weight.normal_(0.0, 0.5, generator=g)
        model.pose_head.fc2.weight.normal_(0.0, 0.02, generator=g)
    return model.eval()


def assert_rel_close(got, want, rtol: float = 1e-4) -> None:
    """|got - want| <= rtol * max(1, max |want|) for tensors: relative for mm/px outputs, absolute below 1."""
    assert got.shape == want.shape
    scale = max(1.0, float(want.abs().max()))
    err = float((got - want).abs().max())
    assert err <= rtol * scale, f"max error {err:.3g} > {rtol} x {scale:.3g}"


# --- the app's results and frames --------------------------------------------------------------------

def make_hand(rng, loops: int = 1):
    """A left HandResult with a real HandPose of `loops` loops: joints in a 180 px box at (120, 120)."""
    import numpy as np

    from app.pipeline import HandResult
    from dirnet import Box, HandPose, LoopTrace

    j2 = rng.uniform(40, 200, (21, 2)).astype(np.float32)
    j3 = rng.normal(0, 40, (21, 3)).astype(np.float32)
    var = np.full((21, 2), 4.0, np.float32)
    trace = (LoopTrace(j2, j3, var, np.ones((21, 3), np.float32), 0.7),) * loops
    box = Box(120, 120, 180)
    pose = HandPose("left", j2, j3, np.zeros((5, 3), np.float32), np.zeros((1, 3), np.int32), var,
                    np.ones((21, 3), np.float32), loops, 0.1 * loops, trace, box)
    return HandResult(3, "left", box, pose, j2, var, j3, pose.vertices)


def demo_frames(n: int, width: int = 320, height: int = 240, fps: float = 25.0) -> list:
    """Real renders of the hand model (they compress like camera footage, unlike noise)."""
    from dirnet import DemoHand

    demo = DemoHand(width=width, height=height)
    return [demo.render(i / fps) for i in range(n)]
