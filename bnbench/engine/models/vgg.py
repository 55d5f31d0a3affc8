"""The two VGG families: the study's VGGNet (report 1.2) and the course template's VGG-A (2.1)."""
from collections import OrderedDict

from torch import nn
import torch.nn.functional as F

from bnbench.engine.models.registry import check_choice, check_probability, init_weights

VGG_A_CFG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")

# The study's VGG_Net, block by block: (3x3 conv widths, width of the trailing 1x1 conv or None,
# maxpool padding). Spatial sizes after the blocks: 32 -> 16 -> 9 -> 6 -> 5 -> 4.
VGGNET_BLOCKS = (((64, 64), None, 0), ((128, 128), None, 1), ((128, 128), 128, 1),
                 ((256, 256), 256, 1), ((512, 512), 512, 1))


def make_conv_stack(cfg, batch_norm: bool) -> nn.Sequential:
    """3x3 convs (padding 1, with bias), each followed by [BatchNorm2d and] ReLU; "M" = maxpool 2."""
    layers, channels = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        layers.append(nn.Conv2d(channels, v, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU())
        channels = v
    return nn.Sequential(*layers)


def make_mlp(sizes) -> nn.Sequential:
    """Linear layers through ``sizes`` with ReLU between them (none after the last)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


def _vggnet_block(in_channels: int, widths, pointwise, pool_padding: int) -> nn.Sequential:
    layers, c = [], in_channels
    for i, w in enumerate(widths, 1):
        layers.append((f"conv{i}", nn.Conv2d(c, w, 3, padding=1)))
        c = w
    if pointwise is not None:
        # As posted: the 1x1 conv has padding 1, so it grows the map by 2 (a zero border + bias).
        layers.append(("conv1x1", nn.Conv2d(c, pointwise, 1, padding=1)))
        c = pointwise
    layers += [("pool", nn.MaxPool2d(2, 2, padding=pool_padding)), ("bn", nn.BatchNorm2d(c)), ("relu", nn.ReLU())]
    return nn.Sequential(OrderedDict(layers))


class VGGNet(nn.Module):
    """The study's own VGG_Net as posted: exactly 14,777,162 parameters (the report's table).

    Five blocks; every 3x3 conv has padding 1, and so (as posted) do the 1x1 convs:
    [3x3 3->64, 3x3 64->64, maxpool(2,2)], [3x3 64->128, 3x3 128->128, maxpool(2,2,pad 1)],
    [3x3 128->128, 3x3 128->128, 1x1 128->128, maxpool(2,2,pad 1)],
    [3x3 128->256, 3x3 256->256, 1x1 256->256, maxpool(2,2,pad 1)],
    [3x3 256->512, 3x3 512->512, 1x1 512->512, maxpool(2,2,pad 1)];
    each block ends with BatchNorm AFTER its pooling, then ReLU (no activation between the convs
    of a block). Spatial sizes 32 -> 16 -> 9 -> 6 -> 5 -> 4; flatten 512*4*4 = 8192 ->
    Linear(8192->1024) -> ReLU -> dropout -> Linear(1024->1024) -> ReLU -> dropout ->
    Linear(1024->10) -> log_softmax.

    Dropout: the posted code applies nn.Dropout2d (p=0.5) to the 2-D (N, 1024) activations. On
    a 2-D input torch (checked on 2.14) warns that this is deprecated and falls back to ordinary
    element-wise dropout: from the same RNG state F.dropout2d and F.dropout give bit-identical
    masks (each element zeroed independently with p=0.5, survivors scaled by 2; identity in eval
    mode). So this uses nn.Dropout(dropout), default 0.5; ``dropout=0`` leaves it out.
    """

    def __init__(self, dropout: float = 0.5):
        super().__init__()
        check_probability("dropout", dropout)
        blocks, c = [], 3
        for i, (widths, pointwise, pad) in enumerate(VGGNET_BLOCKS, 1):
            blocks.append((f"block{i}", _vggnet_block(c, widths, pointwise, pad)))
            c = pointwise or widths[-1]
        self.features = nn.Sequential(OrderedDict(blocks))
        head = [("fc1", nn.Linear(512 * 4 * 4, 1024)), ("relu1", nn.ReLU()), ("drop1", nn.Dropout(dropout)),
                ("fc2", nn.Linear(1024, 1024)), ("relu2", nn.ReLU()), ("drop2", nn.Dropout(dropout)),
                ("fc3", nn.Linear(1024, 10))]
        self.classifier = nn.Sequential(OrderedDict((n, m) for n, m in head if dropout or not n.startswith("drop")))

    def forward(self, x):
        return F.log_softmax(self.classifier(self.features(x).flatten(1)), dim=1)


class VGG_A(nn.Module):
    """The course template's VGG-A: 8 convs, classifier 512->512->512->10, raw logits.

    9,750,922 parameters; 9,756,426 with batch_norm=True. The template's init is part of the
    model: xavier_normal_ conv/linear weights, zero biases, BatchNorm weight 1 / bias 0.
    """

    def __init__(self, batch_norm: bool = False):
        super().__init__()
        check_choice("batch_norm", batch_norm, (True, False))
        self.features = make_conv_stack(VGG_A_CFG, batch_norm)
        self.classifier = make_mlp((512, 512, 512, 10))
        init_weights(self, "xavier_normal")

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def VGG_A_BatchNorm():
    """VGG_A with BatchNorm2d after every conv, before its ReLU."""
    return VGG_A(batch_norm=True)
