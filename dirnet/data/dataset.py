"""The training data layer: hand-centred crops from any HandSample source, mixed by weight.

Every item is a dict of tensors:
    image     (3, res, res) float32 RGB in [0, 1], what DIRNet takes (it normalises internally)
    joints2d  (21, 2) float32 px of the crop (pixel centres at integers); 0 where unknown
    valid2d   (21,) float32, 1 where that joint's 2D label is known
    joints3d  (21, 3) float32 mm, wrist-relative, in the crop's camera axes; 0 when unknown
    has2d     () float32, 1 when the sample has 2D labels;  has3d: () float32, the same for 3D
    is_left   () float32, 1 for a left hand. Left hands are MIRRORED into right hands (image
              flipped, x -> res-1-x in 2D, x -> -x in 3D); mirror predictions back for them.
Datasets: `HandCropDataset` (images read from disk), `TensorHandDataset` (pre-decoded uint8 images
in one tensor, for fast CPU or GPU-host training), `MixedDataset` (weighted mixture of either).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, WeightedRandomSampler
from tqdm import tqdm

from dirnet.crop import DEFAULT_MARGIN, Box, box_from_points
from dirnet.data.augment import NO_AUGMENT, AugmentConfig, make_crop, photometric, \
    sample_crop_params
from dirnet.data.readers.sample import HandSample, project
from dirnet.hand.skeleton import NUM_JOINTS
from dirnet.image_io import read_rgb

__all__ = ["training_item", "HandCropDataset", "TensorHandDataset", "MixedDataset", "make_loader"]


def training_item(image: np.ndarray, sample: HandSample, res: int, augment: AugmentConfig,
                  rng: np.random.Generator, margin: float = DEFAULT_MARGIN,
                  mirror_left: bool = True) -> dict[str, torch.Tensor]:
    """One item (see the module docstring) from an image and its labels.

    The crop box is the square around the known 2D joints (projected 3D joints when only 3D and K
    are given) times `margin`; without any 2D position the whole image is used.
    """
    joints2d = sample.joints2d
    if joints2d is None and sample.joints3d is not None and sample.K is not None:
        joints2d = project(sample.joints3d, sample.K).astype(np.float32)
    known = None if joints2d is None else np.isfinite(joints2d).all(axis=1)
    if known is not None and known.any():
        box = box_from_points(joints2d[known], margin)
    else:
        height, width = image.shape[:2]
        box = Box((width - 1) / 2.0, (height - 1) / 2.0, float(max(height, width)))
    mirror = mirror_left and sample.handedness == "left"
    params = sample_crop_params(rng, augment)
    crop, out2d, out3d, _ = make_crop(image, joints2d, sample.joints3d, box, res, params, mirror)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    pixels = photometric(torch.from_numpy(crop).permute(2, 0, 1).float() / 255.0, gen, augment)
    valid2d = np.zeros(NUM_JOINTS, np.float32) if known is None else known.astype(np.float32)
    return {
        "image": pixels,
        "joints2d": torch.from_numpy(np.nan_to_num(out2d) if out2d is not None
                                     else np.zeros((NUM_JOINTS, 2), np.float32)),
        "valid2d": torch.from_numpy(valid2d),
        "joints3d": torch.from_numpy(out3d if out3d is not None
                                     else np.zeros((NUM_JOINTS, 3), np.float32)),
        "has2d": torch.tensor(float(known is not None and known.any())),
        "has3d": torch.tensor(float(sample.joints3d is not None)),
        "is_left": torch.tensor(float(sample.handedness == "left")),
    }


class _CropDataset(Dataset):
    """Shared item logic; subclasses say where the image of sample i comes from."""

    def __init__(self, samples: Sequence[HandSample], res: int = 224,
                 augment: AugmentConfig | None = None, margin: float = DEFAULT_MARGIN,
                 mirror_left: bool = True, seed: int | None = None):
        if res <= 0:
            raise ValueError(f"res must be > 0, got {res}")
        self.samples = list(samples)
        self.res = res
        self.augment = augment or NO_AUGMENT
        self.margin = margin
        self.mirror_left = mirror_left
        # None: a fresh draw per call from torch's RNG (which DataLoader seeds per worker and
        # torch.manual_seed controls); an int: item i is the same every time (evaluation, tests).
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def _image(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.seed is None:
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        else:
            rng = np.random.default_rng((self.seed, index))
        return training_item(self._image(index), self.samples[index], self.res, self.augment,
                             rng, self.margin, self.mirror_left)


class HandCropDataset(_CropDataset):
    """Crops of HandSamples whose images are read from disk on every access.

    Args:
        samples: from any reader (dirnet.data.readers).
        res: crop side, px.
        augment: random augmentation ranges; None = the plain centred crop.
        margin: crop side / larger side of the 2D joints' bounding box.
        mirror_left: mirror left hands into right hands.
        seed: None for fresh randomness per access, an int for a fixed draw per index.
    """

    def _image(self, index: int) -> np.ndarray:
        return read_rgb(self.samples[index].image_path)


class TensorHandDataset(_CropDataset):
    """Crops of HandSamples whose images are decoded once into one uint8 tensor.

    Args:
        images: (N, H, W, 3) uint8 RGB, image i belonging to samples[i], whose 2D labels are in
            px of that image; the tensor is shared by DataLoader workers rather than copied.
        samples, res, augment, margin, mirror_left, seed: as HandCropDataset.
    """

    def __init__(self, images: torch.Tensor, samples: Sequence[HandSample], **kwargs):
        super().__init__(samples, **kwargs)
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3 \
                or len(images) != len(self.samples):
            raise ValueError(f"images must be (N={len(self.samples)}, H, W, 3) uint8, got "
                             f"{tuple(images.shape)} {images.dtype}")
        self.images = images

    def _image(self, index: int) -> np.ndarray:
        return self.images[index].numpy()

    @classmethod
    def from_samples(cls, samples: Sequence[HandSample], size: int | None = None,
                     threads: int = 4, **kwargs) -> "TensorHandDataset":
        """Decode every sample's image (threaded) and keep it in memory.

        Args:
            samples: HandSamples whose images all have one size (e.g. teacher crops), unless
                `size` is given.
            size: resize every image to size x size first (labels and K scaled to match) so the
                images fit one tensor and less memory; None keeps them as they are.
            threads: decoding threads (cv2 releases the GIL).
            **kwargs: res, augment, margin, mirror_left, seed.

        Raises:
            ValueError: images of different sizes without `size`, an empty sample list, or an
                undecodable image.
            FileNotFoundError: a missing image.
        """
        samples = list(samples)
        if not samples:
            raise ValueError("no samples")

        def load(sample: HandSample) -> tuple[np.ndarray, HandSample]:
            image = read_rgb(sample.image_path)
            if size is None or image.shape[:2] == (size, size):
                return image, sample
            return _resized(image, sample, size)

        with ThreadPoolExecutor(threads) as pool:
            loaded = list(tqdm(pool.map(load, samples), total=len(samples), desc="decode",
                               unit="img"))
        shapes = {image.shape for image, _ in loaded}
        if len(shapes) != 1:
            raise ValueError(f"images have different sizes {sorted(shapes)[:4]}; pass size=")
        images = torch.from_numpy(np.stack([image for image, _ in loaded]))
        return cls(images, [sample for _, sample in loaded], **kwargs)


def _resized(image: np.ndarray, sample: HandSample, size: int) -> tuple[np.ndarray, HandSample]:
    """The image stretched to size x size and the sample's 2D labels / K moved with it."""
    height, width = image.shape[:2]
    sx, sy = size / width, size / height
    # Pixel centres: x' = (x + 0.5) * sx - 0.5.
    affine = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    joints2d = None if sample.joints2d is None else \
        sample.joints2d * np.array([sx, sy], np.float32) + affine[:2, 2].astype(np.float32)
    K = None if sample.K is None else affine @ sample.K
    interpolation = cv2.INTER_AREA if sx < 1 or sy < 1 else cv2.INTER_LINEAR
    return (cv2.resize(image, (size, size), interpolation=interpolation),
            HandSample(sample.image_path, joints2d, sample.joints3d, sample.handedness,
                       sample.visibility, K, sample.source))


class MixedDataset(ConcatDataset):
    """Several datasets drawn from with given weights (not in proportion to their sizes).

    Args:
        sources: (dataset, weight) pairs; weight > 0 is the share of draws from that dataset.
    """

    def __init__(self, sources: Sequence[tuple[Dataset, float]]):
        if not sources or any(weight <= 0 or len(ds) == 0 for ds, weight in sources):
            raise ValueError("need at least one (non-empty dataset, weight > 0) source")
        super().__init__([dataset for dataset, _ in sources])
        total = float(sum(weight for _, weight in sources))
        self.weights = [weight / total for _, weight in sources]
        self.item_weights = torch.cat([torch.full((len(ds),), w / len(ds), dtype=torch.float64)
                                       for (ds, _), w in zip(sources, self.weights)])

    def sampler(self, num_samples: int, generator: torch.Generator | None = None
                ) -> WeightedRandomSampler:
        """A sampler drawing `num_samples` indices (with replacement) per epoch by weight."""
        return WeightedRandomSampler(self.item_weights, num_samples, replacement=True,
                                     generator=generator)


def _init_worker(_: int) -> None:
    cv2.setNumThreads(1)  # one OpenCV thread per DataLoader worker, not one per core each


def make_loader(dataset: Dataset, batch_size: int, workers: int = 0,
                num_samples: int | None = None, shuffle: bool = True,
                generator: torch.Generator | None = None, drop_last: bool = True) -> DataLoader:
    """A DataLoader over any of these datasets.

    Args:
        dataset: a HandCropDataset, TensorHandDataset or MixedDataset.
        batch_size: items per batch.
        workers: DataLoader worker processes (0 = load in the main process).
        num_samples: draws per epoch for a MixedDataset (default: its total length).
        shuffle: shuffle a plain dataset (a MixedDataset always samples randomly).
        generator: torch RNG for sampling/shuffling (reproducible epochs).
        drop_last: drop a last incomplete batch (keeps batch statistics even in training).
    """
    sampler = None
    if isinstance(dataset, MixedDataset):
        sampler = dataset.sampler(num_samples or len(dataset), generator)
        shuffle = False
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler,
                      num_workers=workers, worker_init_fn=_init_worker if workers else None,
                      # spawn, not fork: a forked worker inherits locks (imports, OpenCV) that a
                      # thread of the parent held at that moment, and hung on them (seen here)
                      multiprocessing_context="spawn" if workers else None,
                      persistent_workers=workers > 0, generator=generator, drop_last=drop_last)
