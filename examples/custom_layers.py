"""The PyTorch modules of examples/custom_layers.hpp's layers, for tools/safetensors_to_torch.py:

    python3 tools/safetensors_to_torch.py net.safetensors --modules examples/custom_layers.py

MODULES maps a ctnn layer kind to factory(hparams, in_shape) -> nn.Module; the module's
state_dict names must be the layer's tensor names (here weight and bias).
"""
import torch
from torch import nn


class ChannelScale(nn.Module):
    """y = weight[c] * x + bias[c] over dim 1 (channels of a map, or features)."""

    def __init__(self, num_features):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x):
        shape = [1, -1] + [1] * (x.dim() - 2)
        return x * self.weight.view(shape) + self.bias.view(shape)


MODULES = {
    "ChannelScale": lambda hp, in_shape: ChannelScale(**hp),
    "Swish": lambda hp, in_shape: nn.SiLU(),
}
