"""Long per-step series are stored packed (float32, base64): lossless for the trainer's float32 losses, a quarter
of the size, and validated like every other field when read back."""
import json
import math

import numpy as np
import pytest

from bnbench.store import Store, load_record
from bnbench.store.formats import PACK_ABOVE, FormatError, pack_series, record_from_json, record_to_json
from factories import run_record


def _study_scale_record(steps=78_125):
    rec = run_record(0.6, steps=steps)
    rng = np.random.default_rng(0)
    rec.step_loss = rng.uniform(0.1, 2.5, steps).astype(np.float32).astype(float).tolist()
    rec.step_loss[5] = math.nan                                    # a diverged run's last loss is NaN
    rec.step_grad_change = [None if i % 1563 == 0 else float(np.float32(i / 7)) for i in range(steps)]
    return rec


def test_round_trip_is_exact_and_small(tmp_path):
    rec = _study_scale_record()
    store = Store(tmp_path)
    path = store.save_record(rec, "1.1/base-nll", "full", 0)
    back = load_record(path)
    assert back.step_loss[:5] == rec.step_loss[:5] and math.isnan(back.step_loss[5])
    assert back.step_loss[6:] == rec.step_loss[6:]
    assert back.step_grad_change == rec.step_grad_change
    data = json.loads(path.read_text())
    assert data["schema_version"] == 2 and set(data["step_loss"]) == {"float32_base64", "n"}
    assert path.stat().st_size < 0.9e6          # two series of 78,125 values: ~3 MB as JSON decimals


def test_short_series_stay_plain_lists_and_version_1():
    rec = run_record(0.6, steps=PACK_ABOVE)
    d = record_to_json(rec)
    assert d["schema_version"] == 1 and isinstance(d["step_loss"], list)


@pytest.mark.parametrize("spoil, why", [
    (lambda p: p.update(n=p["n"] + 1), "stated length"),
    (lambda p: p.update(n=-1), "stated length"),
    (lambda p: p.update(n=10**12), "stated length"),
    (lambda p: p.update(float32_base64=p["float32_base64"][:-4] + "!!!!"), "base64"),
    (lambda p: p.update(float32_base64=123), "stated length"),
    (lambda p: p.update(extra=1), "stated length"),
    (lambda p: p.update(float32_base64=pack_series([math.inf] * p["n"])["float32_base64"]), "infinite"),
], ids=["n+1", "negative", "huge", "bad-base64", "not-text", "extra-key", "infinity"])
def test_hostile_packed_series_are_refused(spoil, why):
    d = record_to_json(_study_scale_record(steps=PACK_ABOVE + 1))
    spoil(d["step_loss"])
    with pytest.raises(FormatError, match=why):
        record_from_json(json.loads(json.dumps(d)), "r.json")
