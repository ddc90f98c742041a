"""MLPerf Tiny anomaly-detection autoencoder (ToyADMOS "Deep AutoEncoder").

640-128-128-128-128-8-128-128-128-128-640, fully connected, ReLU after every layer but the
last. The reference model has BatchNorm after each hidden layer; it is omitted here (not
folded): on-device training updates the FC weights directly and a folded BatchNorm would only
rescale them. Parameters: 265,864.
"""
from __future__ import annotations

import torch
from torch import nn

WIDTHS = (640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640)


class DeepAE(nn.Module):
    """Fully connected autoencoder; ``widths`` lists the layer sizes from input to output."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def deep_ae(seed: int = 0) -> DeepAE:
    """The autoencoder with a fixed-seed initial weight set."""
    torch.manual_seed(seed)
    return DeepAE().eval()
