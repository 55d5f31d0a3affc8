"""The "noisy" BatchNorm of Santurkar et al. (2018, section 2.1): after each BatchNorm layer, every activation of
every sample is perturbed by i.i.d. noise of non-zero mean and non-unit variance, drawn afresh at every training
step, so the distribution each layer sees shifts from step to step (internal covariate shift, injected).

From the paper: the noise follows BatchNorm, is i.i.d. per activation and per sample, has non-zero mean and
non-unit variance, and changes at every time step. Assumed here (the paper's section 2.1 does not give it): the
form y' = s * y + m with s ~ U(1, NOISE_SCALE) and m ~ U(-NOISE_MEAN, NOISE_MEAN), drawn per activation at every
training step (so each activation's distribution is scaled and shifted by a different random amount each step);
no noise in evaluation (the network's running statistics are what BatchNorm uses there).
"""
from __future__ import annotations

import torch
from torch import nn

import bnbench

NOISE_MEAN = 0.5     # m ~ U(-0.5, 0.5): a shift of up to half the normalized unit variance
NOISE_SCALE = 1.25   # s ~ U(1, 1.25): a variance of s^2, 1 to 1.56 times the normalized one


class NoisyBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode output is s * y + m, with s and m drawn for every activation at every call."""

    draws_random = True   # bnbench: a training forward draws random numbers (no CUDA-graph replay self-check)

    def __init__(self, num_features: int, noise_mean: float = NOISE_MEAN, noise_scale: float = NOISE_SCALE):
        super().__init__(num_features)
        if not (noise_mean >= 0 and noise_scale >= 1):
            raise bnbench.ConfigError(f"noise_mean {noise_mean!r} must be >= 0 and noise_scale {noise_scale!r} >= 1")
        self.noise_mean, self.noise_scale = float(noise_mean), float(noise_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if not self.training:
            return y
        scale = torch.empty_like(y).uniform_(1.0, self.noise_scale)
        shift = torch.empty_like(y).uniform_(-self.noise_mean, self.noise_mean)
        return y * scale + shift


def with_noisy_batchnorm(model: nn.Module, noise_mean: float = NOISE_MEAN,
                         noise_scale: float = NOISE_SCALE) -> nn.Module:
    """``model`` with every BatchNorm2d replaced by a NoisyBatchNorm2d of the same size (weights carried over)."""
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            noisy = NoisyBatchNorm2d(child.num_features, noise_mean, noise_scale)
            noisy.load_state_dict(child.state_dict())
            setattr(model, name, noisy)
        else:
            with_noisy_batchnorm(child, noise_mean, noise_scale)
    return model


def vgg_a_noisy_bn(noise_mean: float = NOISE_MEAN, noise_scale: float = NOISE_SCALE) -> nn.Module:
    """bnbench's VGG_A_BatchNorm (the course template's VGG-A, 9,756,426 parameters) with noisy BatchNorm."""
    return with_noisy_batchnorm(bnbench.create_model("VGG_A_BatchNorm"), noise_mean, noise_scale)
