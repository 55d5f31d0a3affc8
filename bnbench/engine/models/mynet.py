"""MyNet: the PyTorch MNIST example adapted to 3-channel 32x32 CIFAR-10 images (report 1.1)."""
from collections import OrderedDict

from torch import nn
import torch.nn.functional as F

from bnbench.engine.models.registry import check_choice, check_positive_int, check_probability

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
# The study's sizes are 100 and 500 (a timing test uses 20,000). At this bound fc1 holds 82M parameters (328 MB);
# hidden=3,000,000 would ask for 15 GB before anything could refuse it.
MAX_HIDDEN = 1 << 16


class MyNet(nn.Module):
    """conv5x5(3->20) [BN] act pool2 [drop], conv k x k(20->50) [BN] act pool2, fc(->hidden) act [drop], fc(->10).

    As the study posted it (report 1.1 and its last section), with nn.Dropout(dropout) after the
    first pool and after fc1's activation; ``dropout=0`` leaves both out (no dropout layers).
    Dropout has no parameters: 152,820 (hidden 100), 657,220 (hidden 500); without BN 152,680 /
    657,080; second conv 3x3: 191,820 (hidden 100), 916,220 (hidden 500); tanh changes no count.
    """

    def __init__(self, hidden: int = 100, conv2_kernel: int = 5, activation: str = "relu",
                 batch_norm: bool = True, dropout: float = 0.5):
        super().__init__()
        check_positive_int("hidden", hidden, MAX_HIDDEN)
        check_choice("conv2_kernel", conv2_kernel, (3, 5))
        check_choice("activation", activation, tuple(ACTIVATIONS))
        check_choice("batch_norm", batch_norm, (True, False))
        check_probability("dropout", dropout)
        act = ACTIVATIONS[activation]
        side = ((32 - 4) // 2 - (conv2_kernel - 1)) // 2  # 5 for a 5x5 second conv, 6 for 3x3
        features = [("conv1", nn.Conv2d(3, 20, 5)), ("bn1", nn.BatchNorm2d(20)), ("act1", act()),
                    ("pool1", nn.MaxPool2d(2)), ("drop1", nn.Dropout(dropout)),
                    ("conv2", nn.Conv2d(20, 50, conv2_kernel)), ("bn2", nn.BatchNorm2d(50)),
                    ("act2", act()), ("pool2", nn.MaxPool2d(2))]
        classifier = [("fc1", nn.Linear(50 * side * side, hidden)), ("act3", act()),
                      ("drop2", nn.Dropout(dropout)), ("fc2", nn.Linear(hidden, 10))]

        def keep(name):
            return not ((name.startswith("bn") and not batch_norm) or (name.startswith("drop") and not dropout))

        self.features = nn.Sequential(OrderedDict((n, m) for n, m in features if keep(n)))
        self.classifier = nn.Sequential(OrderedDict((n, m) for n, m in classifier if keep(n)))

    def forward(self, x):
        x = self.features(x).flatten(1)
        return F.log_softmax(self.classifier(x), dim=1)
