"""Layer-by-layer structure of a model: output shapes and parameter counts per leaf module."""
from __future__ import annotations

import torch
from torch import nn


def structure_table(model: nn.Module, input_shape=(1, 3, 32, 32)) -> list[dict]:
    """One row per call of a leaf module in a dummy eval-mode forward, in call order.

    Rows are {"layer", "type", "output_shape", "params"}; a module called twice gets two rows
    but its parameters only in the first, so the params column sums to the trainable total.
    Parameter-free functional steps (F.relu, log_softmax, ResNet's zero-pad shortcuts) do not appear.
    """
    rows: list[dict] = []
    seen: set[int] = set()

    def hook(name):
        def record(module, inputs, output):
            first = id(module) not in seen
            seen.add(id(module))
            params = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
            rows.append({"layer": name, "type": type(module).__name__,
                         "output_shape": shape, "params": params if first else 0})
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if n and not any(True for _ in m.children())]
    flags = {m: m.training for m in model.modules()}
    first_param = next(model.parameters(), None)
    x = torch.zeros(input_shape) if first_param is None else torch.zeros(
        input_shape, device=first_param.device, dtype=first_param.dtype)
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags.items():
            m.training = flag
    return rows


def format_structure(model_name: str, rows: list[dict]) -> str:
    """Plain-text table of ``structure_table`` rows followed by a total-parameters line."""
    header = ("layer", "type", "output shape", "params")
    body = [(r["layer"], r["type"], "x".join(map(str, r["output_shape"] or ())) or "-",
             f"{r['params']:,}") for r in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(4)]

    def line(cells):
        return "  ".join(c.rjust(w) if i == 3 else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [model_name, line(header), line(["-" * w for w in widths]), *map(line, body)]
    out.append(f"total trainable parameters: {sum(r['params'] for r in rows):,}")
    return "\n".join(out)
