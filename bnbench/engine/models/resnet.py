"""ResNet of the study (report 1.2): one BasicBlock per stage.

Two shortcut variants (timm style: one class, one argument, a registered name per variant):

- ``ResNet`` (``shortcut="none"``): parameter-free shortcuts, 4,737,098 parameters, the count the
  report's table gives.
- ``ResNet_Projection`` (``shortcut="projection"``): 1x1-conv + BatchNorm projection shortcuts in
  stages 2-4, as in the study's posted code: 4,910,922 parameters.

The difference is exactly the three projections: 173,824 = (64*128 + 2*128) + (128*256 + 2*256)
+ (256*512 + 2*512).
"""
from torch import nn
import torch.nn.functional as F

from bnbench.engine.models.registry import check_choice

SHORTCUTS = ("none", "projection")


class BasicBlock(nn.Module):
    """3x3 conv, BN, ReLU, 3x3 conv, BN (convs without bias), plus shortcut, ReLU.

    Where the shape changes, ``shortcut="none"`` subsamples and zero-pads the new channels (no
    parameters, "option A" of He et al.); ``shortcut="projection"`` uses a strided 1x1 conv + BN
    ("option B", torchvision's ``downsample``). Same-shape blocks use the identity either way.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "none"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.extra_channels = stride, planes - in_planes
        reshapes = stride != 1 or in_planes != planes
        self.shortcut = (nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
                         if shortcut == "projection" and reshapes else None)

    def _zero_pad_shortcut(self, x):
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = self.shortcut(x) if self.shortcut is not None else self._zero_pad_shortcut(x)
        return F.relu(out + identity)


class ResNet(nn.Module):
    """7x7/2 stem + maxpool, stages of one BasicBlock at 64/128/256/512, avg pool, fc(512->10), log_softmax.

    ``shortcut="none"`` (the default, registered as ``ResNet``): parameter-free shortcuts,
    4,737,098 parameters, exactly the report's table. ``shortcut="projection"`` (registered as
    ``ResNet_Projection``): 1x1-conv + BN projections in stages 2-4 as in the study's posted code
    (and torchvision's ResNet(BasicBlock, [1,1,1,1])), 4,910,922 parameters: 173,824 more.
    """

    def __init__(self, shortcut: str = "none"):
        super().__init__()
        check_choice("shortcut", shortcut, SHORTCUTS)
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = BasicBlock(64, 64, 1, shortcut)
        self.layer2 = BasicBlock(64, 128, 2, shortcut)
        self.layer3 = BasicBlock(128, 256, 2, shortcut)
        self.layer4 = BasicBlock(256, 512, 2, shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.log_softmax(self.fc(self.avgpool(x).flatten(1)), dim=1)


def ResNet_Projection():
    """ResNet with 1x1-conv + BN projection shortcuts in stages 2-4, as posted: 4,910,922 parameters."""
    return ResNet(shortcut="projection")
