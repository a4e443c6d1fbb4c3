"""Which hands are being followed, and where the next crop of each goes.

A track starts from a MediaPipe detection. Between detections its next crop box comes from the
2D joints DIR-Net just predicted (in frame px). A track is dropped when it is lost: the predicted
uncertainty is high, the box leaves the frame, or it shrinks to nothing.

Detection runs when no hand is tracked and, as a safety net, every `redetect_every` frames: that
picks up a second hand, and corrects drift. A detection on top of a tracked hand refreshes that
track's box and handedness. When the detector sees a hand no track covers while some track is
seen by no detection, that track has most likely drifted off its hand: the nearest such track is
replaced. A track the detector merely misses (while nothing new appears) is kept, since palm
detection misses hands in motion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dirnet import DEFAULT_MARGIN, Box, box_from_points

from .detector import Detection

__all__ = ["Track", "HandTracker"]


@dataclass
class Track:
    """One followed hand.

    id: unique per tracker, never reused (filters and gesture state are keyed by it).
    handedness: "left" or "right" as the hand appears in the frame.
    box: where the next crop is cut (frame px).
    age: frames since the track started.
    """

    id: int
    handedness: str
    box: Box
    age: int = 0


class HandTracker:
    """Decides when to detect and moves each track's crop box along with the hand.

    Args:
        max_hands: most hands followed at once.
        redetect_every: frames between detections while hands are tracked (0: only when none is).
        lost_sigma: a track is lost when the mean predicted 2D standard deviation exceeds this
            fraction of its box side.
        min_size: px; a box smaller than this is lost.
        max_step: per frame the box side grows by at most this factor, so one bad estimate
            cannot blow the crop up.
        max_shrink: per frame the box side shrinks by at most this factor. Kept small: on
            ambiguous crops the network's joints contract towards the crop centre, and following
            that freely shrinks the box frame after frame until it loses the hand (measured on the
            ASL clip: 366 px to 101 px in 10 frames at 1.25); the periodic re-detection re-sizes it.
        max_shift: per frame the box centre moves by at most this fraction of the box side. A
            biased estimate (say, joints predicted a little high) would otherwise walk the crop
            off the hand within a few frames; limited, the periodic re-detection catches it.
        margin: box side / joints' extent (dirnet.crop's convention).
    """

    def __init__(self, max_hands: int = 2, redetect_every: int = 10, lost_sigma: float = 0.12,
                 min_size: float = 24.0, max_step: float = 1.25, max_shrink: float = 1.03,
                 max_shift: float = 0.2, margin: float = DEFAULT_MARGIN) -> None:
        self.max_hands = max_hands
        self.redetect_every = redetect_every
        self.lost_sigma = lost_sigma
        self.min_size = min_size
        self.max_step = max_step
        self.max_shrink = max_shrink
        self.max_shift = max_shift
        self.margin = margin
        self.tracks: list[Track] = []
        self._next_id = 0
        self._since_detect = 0

    def reset(self) -> None:
        """Drop every track (e.g. the source changed)."""
        self.tracks = []
        self._since_detect = 0

    def needs_detection(self) -> bool:
        """True when the detector should run on the coming frame."""
        if not self.tracks:
            return True
        return 0 < self.redetect_every <= self._since_detect

    def add_detections(self, detections: Sequence[Detection]) -> None:
        """Start tracks for new hands; refresh tracks that a detection lands on.

        Call after running the detector on a frame, whether or not it found anything.
        """
        self._since_detect = 0
        matched: set[int] = set()
        new: list[Detection] = []
        for det in detections:
            candidates = [t for t in self.tracks if t.id not in matched and _overlaps(t.box, det.box)]
            if candidates:
                same = min(candidates, key=lambda t: np.hypot(t.box.cx - det.box.cx, t.box.cy - det.box.cy))
                same.box, same.handedness = det.box, det.handedness
                matched.add(same.id)
            else:
                new.append(det)
        for det in new:
            # An unseen track beside an unexplained detection has most likely drifted off it.
            unseen = [t for t in self.tracks if t.id not in matched]
            if unseen:
                self.tracks.remove(min(unseen, key=lambda t: np.hypot(t.box.cx - det.box.cx,
                                                                      t.box.cy - det.box.cy)))
            if len(self.tracks) < self.max_hands:
                self.tracks.append(Track(self._next_id, det.handedness, det.box))
                matched.add(self._next_id)
                self._next_id += 1

    def update(self, track: Track, joints2d: np.ndarray, var2d: np.ndarray,
               frame_size: tuple[int, int]) -> bool:
        """Move a track to where its hand now is; drop it if lost.

        Args:
            track: one of self.tracks.
            joints2d: (21, 2) frame px predicted in this frame.
            var2d: (21, 2) frame px^2 predicted variance of those joints.
            frame_size: (width, height) px.

        Returns:
            True if the track is kept, False if it was lost and removed.
        """
        width, height = frame_size
        sigma = float(np.sqrt(np.maximum(var2d, 0.0)).mean())
        new = box_from_points(joints2d, self.margin) if np.isfinite(joints2d).all() else None
        lost = (new is None or not np.isfinite(sigma) or sigma > self.lost_sigma * track.box.size
                or not (0.0 <= new.cx < width and 0.0 <= new.cy < height))
        if not lost:
            old = track.box
            size = float(np.clip(new.size, old.size / self.max_shrink, old.size * self.max_step))
            shift = np.array([new.cx - old.cx, new.cy - old.cy])
            shift *= min(1.0, self.max_shift * old.size / (float(np.hypot(*shift)) + 1e-9))
            lost = size < self.min_size
            track.box = Box(old.cx + float(shift[0]), old.cy + float(shift[1]), size)
        if lost:
            self.tracks.remove(track)
            return False
        track.age += 1
        return True

    def step(self) -> None:
        """Count one processed frame (call once per frame, after the updates)."""
        self._since_detect += 1


def _overlaps(a: Box, b: Box) -> bool:
    """True when two boxes' centres are closer than half the smaller side (same hand)."""
    return np.hypot(a.cx - b.cx, a.cy - b.cy) < 0.5 * min(a.size, b.size)
