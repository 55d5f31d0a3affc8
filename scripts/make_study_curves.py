#!/usr/bin/env python
"""Write bnbench/study/curves.json, a compact per-epoch copy of the study's published 2.2 / 2.3 curves.

Usage (from the repository root):

    python scripts/make_study_curves.py ../shared/data/study-curves/study_curves.npz [--out bnbench/study/curves.json]

The npz holds the per-step curves the study's authors published next to their code (the ``paint/Loss`` and
``paint/Grad`` text files of ``pj2/task_2_VGG_BatchNorm/``). The copy keeps, per epoch, the min / mean / max over
the epoch's steps of each of the 8 curves, the per-epoch mean band width, the whole-run means, and a provenance
block with the npz's sha256. Floats are rounded to 6 significant digits. Before writing, the script checks the
copy against the documented summary (the data README's mean max / min loss, the report's "48% lower, 55%
narrower") and refuses to write when they disagree.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
from pathlib import Path

import numpy as np

EPOCHS = 20
STEPS_PER_EPOCH = {"loss": 391, "grad": 390}
MODELS = {False: "VGG_A", True: "VGG_A_BatchNorm"}
FORMAT = "bnbench.study_curves/1"
SIG_DIGITS = 6


def curve_key(quantity: str, edge: str, bn: bool) -> str:
    return f"{quantity}_{edge}_curve" + ("_BN" if bn else "")


CURVE_KEYS = [curve_key(q, e, bn) for q in ("loss", "grad") for bn in (False, True) for e in ("max", "min")]

# What each curve is, from the data README (shared/data/study-curves/README.md).
CURVE_DOC = {
    "loss_max_curve": "report 2.2, VGG_A: per training step, max of the training loss over the four Adam runs "
                      "(lr 1e-3, 2e-3, 1e-4, 5e-4); 20 epochs x 391 steps of batch 128",
    "loss_min_curve": "report 2.2, VGG_A: per training step, min of the training loss over the same four runs",
    "loss_max_curve_BN": "the same as loss_max_curve for VGG_A_BatchNorm",
    "loss_min_curve_BN": "the same as loss_min_curve for VGG_A_BatchNorm",
    "grad_max_curve": "report 2.3 (the study's own measurement), VGG_A: per step i, l2 norm of (last Linear layer's "
                      "weight gradient at step i+1 minus at step i) within an epoch (390 differences an epoch), "
                      "max over the same four runs",
    "grad_min_curve": "the same as grad_max_curve with min over the four runs",
    "grad_max_curve_BN": "the same as grad_max_curve for VGG_A_BatchNorm",
    "grad_min_curve_BN": "the same as grad_min_curve for VGG_A_BatchNorm",
}

# Documented values the copy must reproduce (rounded as documented).
README_MEAN_LOSS = {"VGG_A": (0.714, 0.311), "VGG_A_BatchNorm": (0.370, 0.189)}   # mean over steps of max / min
REPORT_BN_MAX_LOWER = 0.48        # report.md, last section: BN's mean max-curve 48% lower
REPORT_BN_WIDTH_NARROWER = 0.55   # ... and its mean band width 55% narrower


def sig(x: float, digits: int = SIG_DIGITS) -> float:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"non-finite value {x!r}")
    return float(f"{x:.{digits}g}")


def sigs(a) -> list[float]:
    return [sig(v) for v in np.asarray(a, dtype=float).ravel()]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build(npz_path: Path) -> dict:
    data = np.load(npz_path)
    missing = [k for k in CURVE_KEYS if k not in data.files]
    if missing:
        raise SystemExit(f"{npz_path}: missing curves {missing}")
    curves, width, run_means = {}, {}, {}
    for quantity, n in STEPS_PER_EPOCH.items():
        width[quantity], run_means[quantity] = {}, {}
        for bn, model in MODELS.items():
            per = {}
            for edge in ("max", "min"):
                key = curve_key(quantity, edge, bn)
                raw = np.asarray(data[key], dtype=np.float64)
                if raw.shape != (EPOCHS * n,) or not np.isfinite(raw).all():
                    raise SystemExit(f"{npz_path}: {key} has shape {raw.shape} (expected {(EPOCHS * n,)}) "
                                     "or non-finite values")
                per[edge] = raw
                ep = raw.reshape(EPOCHS, n)
                curves[key] = {"min": sigs(ep.min(axis=1)), "mean": sigs(ep.mean(axis=1)),
                               "max": sigs(ep.max(axis=1))}
            w = per["max"] - per["min"]
            width[quantity][model] = sigs(w.reshape(EPOCHS, n).mean(axis=1))
            run_means[quantity][model] = {"max_curve": sig(per["max"].mean()), "min_curve": sig(per["min"].mean()),
                                          "width": sig(w.mean())}
    return {
        "format": FORMAT,
        "provenance": {
            "source": "the study's public repository, pj2/task_2_VGG_BatchNorm/: the paint/Loss and paint/Grad text "
                      "files its authors published next to their code (the per-step curves behind the report's 2.2 "
                      "and 2.3 figures), as carried in shared/data/study-curves/study_curves.npz",
            "made_from": {"file": npz_path.name, "sha256": sha256(npz_path)},
            "made_by": "scripts/make_study_curves.py",
            "curves": CURVE_DOC,
            "setting": {"seed": "2020, set once before the four runs of a model", "optimizer": "Adam",
                        "learning_rates": [1e-3, 2e-3, 1e-4, 5e-4], "batch_size": 128,
                        "loss": "CrossEntropyLoss", "epochs": EPOCHS, "augmentation": "none",
                        "data": "the original CIFAR-10"},
            "epochs": EPOCHS,
            "steps_per_epoch": dict(STEPS_PER_EPOCH),
            "contents": "curves[key]: per epoch, min / mean / max over the epoch's steps; width[quantity][model]: "
                        "per epoch, mean over the epoch's steps of max_curve - min_curve; run_means[quantity][model]: "
                        "means over all steps of max_curve, min_curve and the width",
            "rounding": f"{SIG_DIGITS} significant digits",
        },
        "curves": curves,
        "width": width,
        "run_means": run_means,
    }


def verify(doc: dict) -> list[str]:
    """The documented summary, reproduced from the compact copy. Returns the lines it checked."""
    lines = []
    rm = doc["run_means"]["loss"]
    for model, (mx, mn) in README_MEAN_LOSS.items():
        got = rm[model]["max_curve"], rm[model]["min_curve"]
        assert abs(got[0] - mx) <= 5e-4 and abs(got[1] - mn) <= 5e-4, (model, got, (mx, mn))
        # the per-epoch means average back to the whole-run mean (every epoch has the same number of steps)
        for edge, want in (("max", got[0]), ("min", got[1])):
            key = curve_key("loss", edge, model != "VGG_A")
            assert abs(sum(doc["curves"][key]["mean"]) / EPOCHS - want) <= 1e-5, key
        lines.append(f"README: {model} mean max / min loss {got[0]:.3f} / {got[1]:.3f} (documented {mx:.3f} / {mn:.3f})")
    lower = 1 - rm["VGG_A_BatchNorm"]["max_curve"] / rm["VGG_A"]["max_curve"]
    narrower = 1 - rm["VGG_A_BatchNorm"]["width"] / rm["VGG_A"]["width"]
    assert round(lower, 2) == REPORT_BN_MAX_LOWER, lower
    assert round(narrower, 2) == REPORT_BN_WIDTH_NARROWER, narrower
    lines.append(f"report: BN's mean max-curve {lower:.1%} lower (documented 48%), mean band width {narrower:.1%} "
                 "narrower (documented 55%)")
    return lines


def dumps(doc: dict) -> str:
    text = json.dumps(doc, indent=1, allow_nan=False)
    # one line per number list
    return re.sub(r"\[\s*([-+0-9.eE,\s]+?)\s*\]", lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("npz", type=Path, help="study_curves.npz (shared/data/study-curves/)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "bnbench" / "study" / "curves.json")
    args = p.parse_args(argv)
    doc = build(args.npz)
    for line in verify(doc):
        print(line)
    text = dumps(doc)
    assert json.loads(text) == doc
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode()):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
