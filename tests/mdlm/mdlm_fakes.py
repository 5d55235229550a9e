"""Stand-in networks with known outputs, so loss and sampler arithmetic can be checked exactly."""

import torch
from torch import nn


class SpyModel(nn.Module):
    """Fixed learnable logits; remembers the noisy input and the noise level it was given."""

    def __init__(self, shape, vocab, seed=0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.logits = nn.Parameter(torch.randn(*shape, vocab, generator=generator))
        self.seen, self.noise = None, None

    def forward(self, input_ids, attention_mask=None, noise=None):
        self.seen, self.noise = input_ids.clone(), noise
        return self.logits.clone()


class OracleModel(nn.Module):
    """Predicts the clean rows with near certainty; records every call's input and noise."""

    def __init__(self, clean, vocab):
        super().__init__()
        self.logits = nn.functional.one_hot(clean, vocab).float() * 20.0
        self.inputs, self.noises = [], []

    def forward(self, input_ids, attention_mask=None, noise=None):
        self.inputs.append(input_ids.clone())
        self.noises.append(noise)
        return self.logits.clone()
