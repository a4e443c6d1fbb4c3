"""Camera-like image degradations on batched float tensors: colour, blur, sensor noise, JPEG.

All functions take and return (B, 3, H, W) float32 RGB in [0, 1] on any device, and draw per-image
random strengths from a `torch.Generator` on that device. `jpeg_like` is an in-memory stand-in
for JPEG: the real codec's lossy steps (YCbCr, 4:2:0 chroma, 8x8 DCT, quantisation with the
standard tables at a quality factor) without the lossless entropy coding, so it costs one batched
matrix product instead of a CPU encode/decode per image.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["colour_jitter", "jitter_params", "apply_colour_jitter", "box_blur", "gaussian_blur", "NoisePatterns",
           "sensor_noise", "noise_std", "add_noise", "jpeg_like"]

# ITU-T T.81 Annex K quantisation tables (quality 50).
_LUMA_Q = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
           14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
           49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_CHROMA_Q = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
             47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32
_RGB_TO_YCC = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


def _rand(shape, gen, lo=0.0, hi=1.0):
    return torch.rand(shape, generator=gen, device=gen.device) * (hi - lo) + lo


def colour_jitter(images: torch.Tensor, gen: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Random exposure, white balance, saturation, contrast and tone curve per image.

    The first four are one affine colour transform per image, applied as a single batched matrix
    product. The tone curve y = x + t x (1 - x), t in [-0.35, 0.35], bends mid-tones like a gamma
    of about 0.75-1.33 at a fraction of the cost of `pow`.

    Args:
        images: (B, 3, H, W) float RGB in [0, 1].
        gen: random generator on the images' device.
        strength: 0 = identity, 1 = the default ranges (exposure x0.7-1.4, saturation 0.5-1.4, ...).

    Returns:
        (B, 3, H, W) float RGB in [0, 1], a new tensor.
    """
    return apply_colour_jitter(images, jitter_params(images.shape[0], gen, strength))


def jitter_params(b: int, gen: torch.Generator, strength: float = 1.0) -> tuple[torch.Tensor, ...]:
    """Draw `colour_jitter`'s random strengths for b images (so callers can apply them in chunks).

    Returns:
        (gain (b, 3), matrix (b, 3, 3), contrast (b, 1, 1), tone (b, 1, 1)) for `apply_colour_jitter`.
    """
    gain = torch.exp(_rand((b, 1), gen, -0.35, 0.35) * strength) * torch.exp(
        _rand((b, 3), gen, -0.08, 0.08) * strength)
    saturation = 1 + _rand((b, 1, 1), gen, -0.5, 0.4) * strength
    contrast = 1 + _rand((b, 1, 1), gen, -0.3, 0.3) * strength
    tone = _rand((b, 1, 1), gen, -0.35, 0.35) * strength
    eye = torch.eye(3, device=gen.device)
    mix = saturation * eye + (1 - saturation) / 3  # saturation about the channel mean
    matrix = contrast * mix * gain[:, None, :]  # (B, 3, 3): gain, then mix, then contrast
    return gain, matrix, contrast, tone


def apply_colour_jitter(images: torch.Tensor, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Apply `jitter_params` output (rows matching the images) to (B, 3, H, W) RGB; a new tensor."""
    gain, matrix, contrast, tone = params
    b = images.shape[0]
    # Contrast pivots on the image's mean brightness after the gain (sparse estimate).
    pivot = (images[:, :, ::8, ::8].mean((2, 3)) * gain).mean(1)[:, None, None]
    flat = images.reshape(b, 3, -1)
    # out = matrix @ rgb + offset, as three broadcast multiply-adds (a 3x3 bmm is slow on CPU).
    out = flat[:, :1] * matrix[:, :, :1]
    out.addcmul_(flat[:, 1:2], matrix[:, :, 1:2]).addcmul_(flat[:, 2:], matrix[:, :, 2:])
    out.add_((1 - contrast) * pivot).clamp_(0, 1)
    curve = torch.mul(out, -tone).add_(1 + tone)  # x (1 + t - t x) = x + t x (1 - x)
    return out.mul_(curve).view_as(images)


def box_blur(images: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Separable 3-tap blur [w, 1 - 2w, w] per image, in place (the border pixels are kept).

    One pass gives a Gaussian-like blur of sigma = sqrt(2 w) px (0.7 px at w = 0.25); repeat it
    for more.

    Args:
        images: (B, C, H, W) float, modified in place.
        weight: (B,) side-tap weights in [0, 0.25].

    Returns:
        `images`.
    """
    w = weight.view(-1, 1, 1, 1)
    pair = images[..., :, :-2] + images[..., :, 2:]
    images[..., :, 1:-1].mul_(1 - 2 * w).addcmul_(pair, w)
    pair = images[..., :-2, :] + images[..., 2:, :]
    images[..., 1:-1, :].mul_(1 - 2 * w).addcmul_(pair, w)
    return images


class NoisePatterns:
    """A few large fields of unit sensor noise; random windows of them stand in for fresh noise.

    Drawing 10M normal numbers per batch costs more than the rest of the camera model, and noise
    carries no label information, so windows at random offsets of a fixed bank are as good. The
    bank is drawn once from `seed`, so `draw` depends only on the generator passed to it.
    """

    def __init__(self, res: int, device: torch.device | str = "cpu", fields: int = 8, margin: int = 96,
                 seed: int = 0) -> None:
        self.res, self.size = res, res + margin
        gen = torch.Generator(device=device)
        gen.manual_seed(seed)
        grain = torch.randn((fields, 3, self.size, self.size), generator=gen, device=device)
        # Independent per channel plus a shared luminance part, as demosaicing leaves it.
        bank = 0.6 * grain + 0.8 * grain.mean(1, keepdim=True) * 3 ** 0.5
        self.bank = bank / bank.std()

    def offsets(self, n: int, gen: torch.Generator) -> list[tuple[int, int, int]]:
        """n random (field, row, column) window origins, for `window`."""
        pick = torch.randint(0, len(self.bank), (n,), generator=gen, device=gen.device).tolist()
        offs = torch.randint(0, self.size - self.res + 1, (n, 2), generator=gen, device=gen.device).tolist()
        return [(k, oy, ox) for k, (oy, ox) in zip(pick, offs)]

    def window(self, origin: tuple[int, int, int]) -> torch.Tensor:
        """(3, res, res) view of the bank at one `offsets` origin (do not modify it)."""
        k, oy, ox = origin
        return self.bank[k, :, oy:oy + self.res, ox:ox + self.res]



def sensor_noise(images: torch.Tensor, gen: torch.Generator, max_std: float = 0.04,
                 noise: torch.Tensor | None = None) -> torch.Tensor:
    """Add noise that grows with brightness (shot noise) on top of a floor (read noise).

    Args:
        images: (B, 3, H, W) float RGB in [0, 1]; not modified.
        gen: random generator on the images' device.
        max_std: largest noise standard deviation at full brightness.
        noise: (B, 3, H, W) unit-variance noise to use (e.g. `NoisePatterns.draw`, which is
            consumed); None draws fresh Gaussian noise.

    Returns:
        (B, 3, H, W) float RGB in [0, 1], a new tensor.
    """
    b = images.shape[0]
    if noise is None:
        noise = torch.randn(images.shape, generator=gen, device=gen.device)
    return add_noise(images, noise, noise_std(b, gen, max_std), out=noise)


def noise_std(b: int, gen: torch.Generator, max_std: float = 0.04) -> torch.Tensor:
    """(b, 1, 1, 1) random noise levels at full brightness for `add_noise`; most images are fairly clean."""
    return _rand((b, 1, 1, 1), gen) ** 2 * max_std


def add_noise(images: torch.Tensor, noise: torch.Tensor, std: torch.Tensor,
              out: torch.Tensor | None = None) -> torch.Tensor:
    """images + noise * std * (0.4 + 0.6 x), clamped to [0, 1] (see `sensor_noise`).

    Args:
        images: (B, 3, H, W) float RGB in [0, 1]; not modified.
        noise: unit-variance noise broadcastable to images.
        std: (B, 1, 1, 1) noise std at full brightness.
        out: where to write the result (may be `noise` itself); None = a new tensor.
    """
    # n <- 0.4 std n, then n <- n + 1.5 n x, then + x.
    out = torch.mul(noise, 0.4 * std, out=out) if out is not None else noise * (0.4 * std)
    out.addcmul_(out, images, value=1.5)
    return out.add_(images).clamp_(0, 1)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with a different sigma per image (sigma 0 leaves an image as it is).

    Exact but costly on CPU (a grouped convolution); `box_blur` is the cheap batched stand-in.

    Args:
        images: (B, C, H, W) float.
        sigma: (B,) standard deviations in pixels, at most ~2 (the kernel is 9 taps).

    Returns:
        (B, C, H, W) float, borders replicated.
    """
    b, c, h, w = images.shape
    taps = torch.arange(-4, 5, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (taps[None] / sigma[:, None].clamp(min=1e-3)) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, 9)
    x = F.pad(images.reshape(1, b * c, h, w), (4, 4, 4, 4), mode="replicate")
    x = F.conv2d(x, kernel[:, None, None, :], groups=b * c)
    x = F.conv2d(x, kernel[:, None, :, None], groups=b * c)
    return x.view(b, c, h, w)


def _dct_basis(device) -> torch.Tensor:
    """(64, 64) orthonormal 2D DCT-II of a row-major 8x8 block: coefficients = block @ basis."""
    k = torch.arange(8, device=device, dtype=torch.float32)
    d = torch.cos((2 * k[None] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return torch.kron(d, d).T


def _quant_steps(values, quality: torch.Tensor) -> torch.Tensor:
    """(B,) qualities 1..100 -> (B, 1, 64) quantisation steps (IJG scaling of a base table)."""
    q = quality.clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q) / 100
    base = torch.tensor(values, device=quality.device, dtype=torch.float32)
    return (base * scale[:, None]).floor().clamp(min=1)[:, None, :]


def _blocks_roundtrip(x: torch.Tensor, step: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Quantise (B, C, H, W) values (0..255 scale, centred) in 8x8 DCT blocks and reconstruct."""
    b, c, h, w = x.shape
    # Blocks as rows of 64 pixels, so each transform is one large matrix product.
    rows = x.view(b, c, h // 8, 8, w // 8, 8).permute(0, 1, 2, 4, 3, 5).reshape(b, -1, 64)
    # The per-image quantisation step is folded into the (B, 64, 64) transforms: two fewer passes.
    coef = torch.matmul(rows, basis / step).round_()
    rows = torch.matmul(coef, basis.T * step.transpose(1, 2))
    return rows.view(b, c, h // 8, w // 8, 8, 8).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h, w)


def _mix3(matrix: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """matrix (3, 3) @ flat (B, 3, N) as three broadcast multiply-adds (a 3x3 bmm is slow on CPU)."""
    m = matrix[None, :, :, None]
    out = flat[:, :1] * m[:, :, 0]
    return out.addcmul_(flat[:, 1:2], m[:, :, 1]).addcmul_(flat[:, 2:], m[:, :, 2])


def jpeg_like(images: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG's lossy steps at a per-image quality (see the module docstring).

    Args:
        images: (B, 3, H, W) float RGB in [0, 1], H and W multiples of 16.
        quality: (B,) JPEG quality factors 1..100.

    Returns:
        (B, 3, H, W) float RGB in [0, 1] with blocking, ringing and chroma bleeding.

    Raises:
        ValueError: H or W is not a multiple of 16.
    """
    b, _, h, w = images.shape
    if h % 16 or w % 16:
        raise ValueError(f"jpeg_like needs H and W multiples of 16, got {h}x{w}")
    to_ycc = torch.tensor(_RGB_TO_YCC, device=images.device) * 255
    ycc = _mix3(to_ycc, images.reshape(b, 3, -1)).view(b, 3, h, w)
    basis = _dct_basis(images.device)
    luma = _blocks_roundtrip(ycc[:, :1] - 128, _quant_steps(_LUMA_Q, quality), basis)
    chroma = _blocks_roundtrip(F.avg_pool2d(ycc[:, 1:], 2), _quant_steps(_CHROMA_Q, quality), basis)
    ycc = torch.empty_like(images)
    torch.add(luma, 128, out=ycc[:, :1])
    # Chroma comes back at full size by pixel replication, as simple decoders do (one strided copy).
    ycc[:, 1:].view(b, 2, h // 2, 2, w // 2, 2).copy_(chroma[:, :, :, None, :, None].expand(-1, -1, -1, 2, -1, 2))
    rgb = _mix3(torch.linalg.inv(to_ycc), ycc.view(b, 3, -1))
    return rgb.clamp_(0, 1).view(b, 3, h, w)
