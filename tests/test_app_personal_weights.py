"""The weights picker's list: shipped weights, the user's fine-tunes, and what each says about itself."""
from __future__ import annotations

import json
import os

from app.personal_weights import describe, list_weights, new_output_dir, same_weights


def _fine_tune(folder, steps, before, after, mtime):
    folder.mkdir(parents=True)
    (folder / "finetuned.safetensors").write_bytes(b"")
    meta = {"finetune": {"inputs": [f"/rec/{folder.name}/raw.mp4"], "steps": steps,
                         "validation": {"before": {"held-out slice": {"err2d": before}},
                                        "after": {"held-out slice": {"err2d": after}}}}}
    (folder / "finetuned.json").write_text(json.dumps(meta))
    os.utime(folder, (mtime, mtime))
    return folder


def test_the_list_has_the_shipped_weights_then_fine_tunes_newest_first(tmp_path):
    root = tmp_path / "mine"
    old = _fine_tune(root / "session-1", 100, 18.0, 9.6, 1_000)
    new = _fine_tune(root / "session-2", 200, 17.0, 8.0, 2_000)
    (root / "not-weights").mkdir()  # a folder without a checkpoint is not listed
    _fine_tune(root / ".session-3.tmp-x", 1, 1.0, 1.0, 3_000)  # nor one still being written
    choices = list_weights(root)
    assert [(c.label, c.path) for c in choices] == [("Shipped weights", None), ("Mine: session-2", new),
                                                   ("Mine: session-1", old)]
    elsewhere = tmp_path / "w.safetensors"
    assert list_weights(root, elsewhere)[-1].path == elsewhere  # weights from --weights are listed too
    assert len(list_weights(root, old / "finetuned.safetensors")) == 3  # already there as its folder
    assert list_weights(tmp_path / "absent") == [choices[0]]


def test_descriptions_and_names(tmp_path):
    folder = _fine_tune(tmp_path / "session-1", 120, 18.04, 9.61, 1_000)
    assert describe(folder) == "fine-tuned on session-1: 120 steps; held-out frames 18.0 -> 9.6 px"
    assert describe(None) == "the shipped weights"
    assert same_weights(folder, folder / "finetuned.safetensors") and same_weights(None, None)
    assert not same_weights(folder, None)
    assert new_output_dir(tmp_path, tmp_path / "rec" / "session-1") == tmp_path / "session-1-2"
    assert new_output_dir(tmp_path, tmp_path / "rec" / "session-9") == tmp_path / "session-9"
