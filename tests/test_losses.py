"""The training losses: the SSIM term is the native table's SSIM, differentiable."""
import numpy as np
import torch

from export.losses import ssim_loss, ssim_map_luma
from export.metrics import ssim


def _tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255


def test_ssim_term_equals_the_judges_ssim():
    rng = np.random.default_rng(0)
    clean = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    noisy = np.clip(clean.astype(int) + rng.integers(-40, 40, clean.shape), 0, 255).astype(np.uint8)
    judged = ssim(noisy, clean)
    assert 0.3 < judged < 0.99
    assert abs(ssim_map_luma(_tensor(noisy), _tensor(clean)).mean().item() - judged) < 1e-5


def test_ssim_loss_is_zero_for_identical_frames_and_pulls_towards_the_reference():
    torch.manual_seed(0)
    ref = torch.rand(2, 3, 32, 32) * 2 - 1
    assert abs(ssim_loss(ref, ref).item()) < 1e-6
    out = (ref + 0.3 * torch.randn_like(ref)).requires_grad_(True)
    before = ssim_loss(out, ref)
    before.backward()
    with torch.no_grad():
        stepped = out - 0.05 * out.grad / out.grad.abs().max()
    assert ssim_loss(stepped, ref).item() < before.item()
