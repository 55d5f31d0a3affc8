"""ResNet of the study (report 1.2): one BasicBlock per stage, parameter-free shortcuts."""
from torch import nn
import torch.nn.functional as F

from .registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.extra_channels = stride, planes - in_planes

    def shortcut(self, x):
        # The study's count (4,737,098) leaves no room for 1x1 projections: subsample and
        # zero-pad the new channels instead ("option A" of He et al.).
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


@register_model
class ResNet(nn.Module):
    """7x7/2 stem + maxpool, stages of one BasicBlock at 64/128/256/512, avg pool, fc(512->10).

    4,737,098 parameters, exactly the study's count (torchvision's ResNet(BasicBlock, [1,1,1,1])
    with 1x1 projection shortcuts has 4,910,922).
    """

    outputs = "log_probs"

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = BasicBlock(64, 64)
        self.layer2 = BasicBlock(64, 128, 2)
        self.layer3 = BasicBlock(128, 256, 2)
        self.layer4 = BasicBlock(256, 512, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.log_softmax(self.fc(self.avgpool(x).flatten(1)), dim=1)
