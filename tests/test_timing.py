"""bnbench.engine.timing: interleaved ABBA timing cancels a drifting machine's speed; timing each side on its own does not."""
import math

import pytest

from bnbench.engine.config import TrainConfig
from bnbench.errors import ConfigError
from bnbench.engine.timing import alternate, interleaved_step_times, pair_ratios, summarize


class DriftingMachine:
    """A simulated machine whose clock advances by a step's cost times a slowdown that grows linearly with the
    work done: x1.0 at the first step, x(1 + drift) at the last (``total`` steps in all)."""

    def __init__(self, cost_a: float, cost_b: float, total: int, drift: float = 0.5):
        self.cost = {"a": cost_a, "b": cost_b}
        self.total, self.drift = total, drift
        self.t, self.done, self.log = 0.0, 0, []

    def step(self, side: str):
        def run():
            self.t += self.cost[side] * (1 + self.drift * self.done / (self.total - 1))
            self.done += 1
            self.log.append(side)
        return run

    def clock(self) -> float:
        self.log.append("|")
        return self.t


ROUNDS, STEPS = 6, 3
TRUE_RATIO = 1.08   # e.g. BatchNorm's +8% per step


def sequential_ratio(machine: DriftingMachine) -> float:
    """The old way: all of A's steps timed, then all of B's (two separate runs, one after the other)."""
    n = ROUNDS * STEPS
    start = machine.clock()
    for _ in range(n):
        machine.step("a")()
    mid = machine.clock()
    for _ in range(n):
        machine.step("b")()
    return (mid - start) / (machine.clock() - mid)


def test_interleaving_cancels_a_linear_drift_that_fools_sequential_timing():
    total = 2 * ROUNDS * STEPS
    m = DriftingMachine(TRUE_RATIO * 0.01, 0.01, total)
    a, b = alternate(m.step("a"), m.step("b"), ROUNDS, STEPS, clock=m.clock)
    interleaved = summarize(a, b)["ratio_median"]
    sequential = sequential_ratio(DriftingMachine(TRUE_RATIO * 0.01, 0.01, total))
    # Sequential: B runs on the slower, later half of the drift, so BatchNorm's +8% turns into a large "saving":
    # the sign flip of issue 16 item 5.
    assert sequential / TRUE_RATIO - 1 < -0.10 and sequential < 1
    # ABBA: within each pair of rounds the two sides' blocks sit symmetrically in time, so a linear drift cancels
    # exactly (plain A B alternation would leave ~3% here, B always a block later than A).
    assert interleaved == pytest.approx(TRUE_RATIO, rel=0.005)
    # every pair on its own recovers the ratio, not just the median (all ROUNDS // 2 of them: an empty list of pairs
    # would pass the all() below)
    assert len(pair_ratios(a, b)) == ROUNDS // 2
    assert all(r == pytest.approx(TRUE_RATIO, rel=0.005) for r in pair_ratios(a, b))


def test_interleaving_stays_close_under_a_smooth_nonlinear_drift():
    # speed swinging by +-15% over the measurement (a slow wave, not a line): still within 2%
    class Wavy(DriftingMachine):
        def step(self, side):
            def run():
                self.t += self.cost[side] * (1 + 0.15 * math.sin(2 * math.pi * self.done / self.total))
                self.done += 1
            return run

    m = Wavy(TRUE_RATIO, 1.0, 2 * ROUNDS * STEPS)
    a, b = alternate(m.step("a"), m.step("b"), ROUNDS, STEPS, clock=m.clock)
    assert summarize(a, b)["ratio_median"] == pytest.approx(TRUE_RATIO, rel=0.02)


def test_abba_order_and_untimed_warmup():
    m = DriftingMachine(1.0, 1.0, 100)
    a, b = alternate(m.step("a"), m.step("b"), 4, 2, clock=m.clock, warmup_steps=2)
    # warm-up: A's then B's, no clock read; then per round a clock read around each block: A B, B A, A B, B A
    assert "".join(m.log) == "aabb" + "|aa||bb|" "|bb||aa|" "|aa||bb|" "|bb||aa|"
    assert len(a) == len(b) == 4


def test_summary_numbers():
    s = summarize([2.0, 4.0, 3.0, 3.0], [1.0, 2.0, 2.0, 1.0])
    assert s["ratio_per_round"] == [2.0, 2.0, 1.5, 3.0]
    assert s["ratio_per_pair"] == [2.0, 2.0] and s["ratio_median"] == 2.0
    assert s["a_s_per_step_median"] == 3.0 and s["b_s_per_step_median"] == 1.5


@pytest.mark.parametrize("kw, match", [({"rounds": 3}, "rounds=3"), ({"rounds": 0}, "rounds=0"),
                                       ({"steps_per_round": 0}, "steps_per_round=0"),
                                       ({"warmup_steps": -1}, "warmup_steps=-1")])
def test_bad_counts_are_refused(kw, match):
    args = {"rounds": 2, "steps_per_round": 1, "warmup_steps": 0, **kw}
    with pytest.raises(ConfigError, match=match):
        alternate(lambda: None, lambda: None, args["rounds"], args["steps_per_round"],
                  warmup_steps=args["warmup_steps"])


@pytest.fixture(scope="module")
def synthetic(synthetic_data):
    return synthetic_data(n_train=400, n_test=20, seed=3)


@pytest.fixture(autouse=True)
def one_thread():
    """Real runs on one intra-op thread: on an oversubscribed 2-core machine two OpenMP threads stall on each
    other's barriers (a MyNet step at batch 16 measured ~1 s instead of ~20 ms), which makes a test slow, not
    wrong. The timing machinery under test does not depend on the thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_real_run_identical_configs_time_alike(synthetic):
    cfg = TrainConfig(model="MyNet", batch_size=16, precision="fp32")
    # 3 ABBA pairs: the median drops a pair that a burst on a shared 2-core machine hit
    out = interleaved_step_times(cfg, cfg, synthetic, device="cpu", rounds=6, steps_per_round=5, warmup_steps=2)
    assert out["rounds"] == 6 and len(out["a_s_per_step"]) == len(out["b_s_per_step"]) == 6
    assert len(out["ratio_per_round"]) == 6 and len(out["ratio_per_pair"]) == 3
    assert all(t > 0 for t in out["a_s_per_step"] + out["b_s_per_step"])
    assert 0.5 < out["ratio_median"] < 2.0
    assert out["order"] == "ABBA" and out["device"] == "cpu" and out["precision"] == "fp32"
    assert out["cuda_graphs"] == ["off (not available on cpu)"] * 2
    import json
    json.dumps(out)   # JSON-ready


def test_real_run_tells_a_big_model_from_a_small_one(synthetic):
    # fc1 of 1250 x 20000 against 1250 x 10: ~9x the FLOPs per image and 2,000x the fc1 weights to update
    big = TrainConfig(model="MyNet", model_args={"hidden": 20000}, batch_size=64, precision="fp32")
    small = big.replace(model_args={"hidden": 10})
    # idle, the ratio is ~11; 3 pairs so one burst on the small side's short blocks cannot sink the median
    out = interleaved_step_times(big, small, synthetic, device="cpu", rounds=6, steps_per_round=2, warmup_steps=1)
    assert out["ratio_median"] > 1.5


def test_defaults_and_refusals(synthetic):
    from bnbench.engine.timing import DEFAULTS

    assert DEFAULTS["cpu"][0] % 2 == 0 and DEFAULTS["cuda"][0] % 2 == 0
    cfg = TrainConfig(model="MyNet", batch_size=16, train_per_class=1)   # 10 images: not one batch of 16
    with pytest.raises(ConfigError, match="fewer than one batch"):
        interleaved_step_times(cfg, cfg, synthetic, device="cpu", rounds=2, steps_per_round=1, warmup_steps=0)
    with pytest.raises(ConfigError, match="deterministic"):
        interleaved_step_times(cfg, cfg.replace(deterministic=True), synthetic, device="cpu", rounds=2)


def test_seeds_come_from_the_configs(synthetic, monkeypatch):
    import bnbench.engine.train as train

    seeds = []
    real = train.build_model
    monkeypatch.setattr(train, "build_model", lambda config, device: seeds.append(config.seed) or real(config, device))
    cfg = TrainConfig(model="MyNet", batch_size=16, seed=7, precision="fp32")
    interleaved_step_times(cfg, cfg.replace(seed=11), synthetic, device="cpu", rounds=2, steps_per_round=1,
                           warmup_steps=0)
    assert seeds == [7, 11]
