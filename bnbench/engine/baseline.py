"""The yardstick for bnbench's speed claim: one epoch of the study's own, "study-style" training loop.

What this loop is
-----------------
The course study trained its networks with the PyTorch MNIST example (``pytorch/examples``,
``mnist/main.py``) adapted to CIFAR-10. This module reproduces that data path and loop:

* a torchvision-style Dataset (:class:`StudyStyleCIFAR10`) that holds the images as one HWC uint8 numpy
  array, laid out exactly as ``torchvision.datasets.CIFAR10`` lays it out (``vstack(...).reshape(-1, 3, 32,
  32).transpose((0, 2, 3, 1))``, a non-contiguous view), with labels as a Python list of ints, and whose
  ``__getitem__`` returns ``transform(PIL.Image.fromarray(hwc_image)), label`` with
  ``transforms.Compose([ToTensor(), Normalize((0.5,)*3, (0.5,)*3)])``: per image, in Python. (torchvision's
  own class cannot be used directly because our copy of the batch files fails its md5 check; this is the
  same ``__getitem__``.)
* a ``torch.utils.data.DataLoader`` with the MNIST example's settings: ``batch_size=B, shuffle=True`` and, on
  CUDA, ``num_workers=1, pin_memory=True``; on the CPU, ``num_workers=0`` (the loader's default). The
  shuffle is seeded through a ``torch.Generator``.
* the MNIST example's ``train()`` body, fp32 and NCHW (no channels_last, no autocast): per batch
  ``data, target = data.to(device), target.to(device)``, ``optimizer.zero_grad()``, ``output = model(data)``,
  ``loss = F.nll_loss(output, target)`` (``F.cross_entropy`` for the logit models), ``loss.backward()``,
  ``optimizer.step()``, and every ``log_interval=10`` batches (``batch_idx % 10 == 0``) the example's
  ``loss.item()`` for its progress print. The ``.item()`` (a host/device sync on CUDA) is kept; the
  print is not. The optimizer is plain ``torch.optim.SGD(lr, momentum)``, as in the study.

Why it is the fair baseline
---------------------------
:func:`time_study_style_epoch` trains the *same* model object (the caller builds it, puts it on the device),
at the same batch size, on the same device, with the same optimizer and learning rate as a bnbench run.
Only two things differ from :func:`bnbench.engine.train.train`: the data path (per-image PIL + transforms in a
DataLoader, and one host->device copy per batch, versus bnbench's device-resident uint8 tensor, seeded
index permutations and batched normalisation) and the memory format (NCHW versus channels_last). bnbench's
bf16 autocast only applies on CUDA; compare CUDA runs with ``precision='fp32'`` to isolate the data path.

Timing: ``time.perf_counter`` around the whole epoch loop, including the creation of the loader iterator
(worker start-up on CUDA, as in every epoch of the example) and all data loading; on CUDA the clock stops
after ``torch.cuda.synchronize()``. Building the Dataset (the example's one-off ``datasets.CIFAR10(...)``)
is outside the clock.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from bnbench.engine.config import check_loss_outputs
from bnbench.engine.data import NORMALIZATIONS
from bnbench.engine.device import as_device
from bnbench.engine.losses import loss_function
from bnbench.engine.models import outputs_of
from bnbench.errors import ConfigError

LOG_INTERVAL = 10  # the MNIST example's --log-interval default


class StudyStyleCIFAR10(torch.utils.data.Dataset):
    """CIFAR-10 as ``torchvision.datasets.CIFAR10`` serves it, built from uint8 tensors (N, 3, 32, 32).

    ``__getitem__(i)`` returns ``(transform(Image.fromarray(self.data[i])), self.targets[i])``: a float32
    (3, 32, 32) tensor and a Python int.
    """

    def __init__(self, x_uint8: torch.Tensor, y: torch.Tensor, normalization: str = "course"):
        if normalization not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {normalization!r}; valid: {', '.join(NORMALIZATIONS)}")
        if (not isinstance(x_uint8, torch.Tensor) or x_uint8.dtype != torch.uint8 or x_uint8.ndim != 4
                or x_uint8.shape[1] != 3):
            raise ConfigError("StudyStyleCIFAR10 needs uint8 images of shape (N, 3, H, W), got "
                              f"{getattr(x_uint8, 'dtype', type(x_uint8))} {tuple(getattr(x_uint8, 'shape', ()))}")
        if not isinstance(y, torch.Tensor) or y.ndim != 1 or len(y) != len(x_uint8):
            raise ConfigError(f"StudyStyleCIFAR10 needs one label per image, got labels of shape "
                              f"{tuple(getattr(y, 'shape', ()))} for {len(x_uint8)} images")
        n, c, h, w = x_uint8.shape
        # torchvision: np.vstack(batches).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1)) -- an owned,
        # contiguous NCHW array seen through a non-contiguous HWC view; Image.fromarray copies each item.
        nchw = np.array(x_uint8.detach().cpu().numpy(), dtype=np.uint8, copy=True).reshape(n, c, h, w)
        self.data = nchw.transpose((0, 2, 3, 1))
        self.targets = [int(t) for t in y.detach().cpu().tolist()]
        self.normalization = normalization
        mean, std = NORMALIZATIONS[normalization]
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])

    def __getitem__(self, index: int):
        img, target = self.data[index], self.targets[index]
        img = Image.fromarray(img)
        if self.transform is not None:
            img = self.transform(img)
        return img, target

    def __len__(self) -> int:
        return len(self.data)


def study_style_loader(dataset, batch_size: int, device, seed: int) -> torch.utils.data.DataLoader:
    """The MNIST example's training DataLoader: shuffled (seeded), ``num_workers=1, pin_memory=True`` on CUDA,
    ``num_workers=0`` otherwise."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r} is out of range; use an integer >= 1")
    kwargs = {"batch_size": batch_size, "shuffle": True,
              "generator": torch.Generator().manual_seed(int(seed))}
    if as_device(device).type == "cuda":
        kwargs.update(num_workers=1, pin_memory=True)
    else:
        kwargs.update(num_workers=0)
    return torch.utils.data.DataLoader(dataset, **kwargs)


def time_study_style_epoch(model: torch.nn.Module, x_uint8: torch.Tensor, y: torch.Tensor, *, batch_size: int,
                           lr: float = 0.01, momentum: float = 0.9, device="cpu", seed: int = 0,
                           loss: str = "nll", max_batches: int | None = None, warmup_batches: int = 0,
                           normalization: str = "course") -> dict:
    """Train ``model`` (already on ``device``, fp32, NCHW) for one study-style epoch, or ``max_batches``
    batches, with ``SGD(lr, momentum)``; return the loop's wall time and throughput.

    ``warmup_batches``: train this many batches of the same loader iterator before the clock starts (they
    count towards ``max_batches`` but not towards the timed images). For short samples: a sample of a few
    batches would otherwise be dominated by the loader's start-up (a worker process on CUDA), which a real
    epoch pays once over hundreds of batches. Leaving it out of a sample favours the study-style loop, so a
    speedup measured this way is, if anything, understated.

    Returns ``{"seconds", "images", "images_per_s", "mean_loss", "batches"}`` for the timed batches;
    ``mean_loss`` is the mean of the per-batch mean training losses.
    """
    dev = as_device(device)
    loss_fn = loss_function(loss)
    check_loss_outputs(loss, outputs_of(model), type(model).__name__)
    if max_batches is not None and (isinstance(max_batches, bool) or not isinstance(max_batches, int)
                                    or max_batches < 1):
        raise ConfigError(f"max_batches={max_batches!r} is out of range; use None or an integer >= 1")
    if (isinstance(warmup_batches, bool) or not isinstance(warmup_batches, int) or warmup_batches < 0
            or (max_batches is not None and warmup_batches >= max_batches)):
        raise ConfigError(f"warmup_batches={warmup_batches!r} is out of range; use an integer >= 0 and below "
                          "max_batches, so that some batches are timed")
    params = list(model.parameters())
    wrong = {str(p.device) for p in params if p.device.type != dev.type
             or (dev.index is not None and p.device.index != dev.index)}
    if wrong:
        raise ConfigError(f"the model's parameters are on {sorted(wrong)} but device={str(dev)!r}; "
                          f"move the model with model.to({str(dev)!r}) first")
    dataset = StudyStyleCIFAR10(x_uint8, y, normalization=normalization)
    loader = study_style_loader(dataset, batch_size, dev, seed)
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum)

    model.train()
    losses = []
    images = batches = 0
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for batch_idx, (data, target) in enumerate(loader):
        if batch_idx == warmup_batches and warmup_batches:
            sync()
            start, losses, images = time.perf_counter(), [], 0
        data, target = data.to(dev), target.to(dev)
        optimizer.zero_grad()
        output = model(data)
        loss_t = loss_fn(output, target)
        loss_t.backward()
        optimizer.step()
        if batch_idx % LOG_INTERVAL == 0:
            loss_t.item()  # the example's progress print reads the loss here (a sync on CUDA); not printed
        losses.append(loss_t.detach())
        images += len(target)
        batches += 1
        if max_batches is not None and batches >= max_batches:
            break
    sync()
    seconds = time.perf_counter() - start
    if warmup_batches and batches <= warmup_batches:
        raise ConfigError(f"the data has {batches} batch(es) of {batch_size}, all spent on warmup_batches="
                          f"{warmup_batches}: nothing was timed; lower warmup_batches")

    mean_loss = torch.stack(losses).float().mean().item() if losses else float("nan")
    return {"seconds": seconds, "images": images,
            "images_per_s": images / seconds if seconds > 0 else None,
            "mean_loss": mean_loss, "batches": batches - warmup_batches}
