"""Gradient-predictiveness probes: closed forms on a quadratic, bitwise non-interference with training."""
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st
from torch import nn

from bnbench.engine.config import TrainConfig
from bnbench.engine.models import create_model
from bnbench.engine.probes import (DEFAULT_EVERY, ETA_MULTIPLIERS, TrajectoryProbe, last_linear,
                            probe_direction)
from bnbench.engine.train import train


class Quadratic(nn.Module):
    """L(w) = ½ wᵀAw in float64. The probe interface is (model, x, y, loss_fn): here forward ignores x and
    returns the scalar loss itself, and the tests pass loss_fn = lambda out, y: out (y is ignored too)."""

    def __init__(self, A: np.ndarray, w: np.ndarray):
        super().__init__()
        self.register_buffer("A", torch.tensor(A, dtype=torch.float64))
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, x):
        return 0.5 * self.w @ self.A @ self.w


def identity_loss(out, y):
    return out


def fill_grad(model):
    model.zero_grad(set_to_none=True)
    model(None).backward()


def spd(q, diag, eps=1e-3):
    """A = QᵀDQ + εI: symmetric positive definite for any real Q and D > 0."""
    return q.T @ np.diag(diag) @ q + eps * np.eye(len(diag))


@st.composite
def quadratics(draw):
    d = draw(st.integers(2, 8))
    entry = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)
    q = np.array(draw(st.lists(entry, min_size=d * d, max_size=d * d))).reshape(d, d)
    diag = np.array(draw(st.lists(st.floats(0.05, 10.0), min_size=d, max_size=d)))
    w = np.array(draw(st.lists(entry, min_size=d, max_size=d)))
    lr = draw(st.floats(1e-3, 1.0))
    return spd(q, diag), w, lr


@settings(deadline=None, max_examples=40)
@given(quadratics())
def test_probe_matches_closed_forms_on_quadratic(case):
    A, w, lr = case
    assume(np.linalg.norm(A @ w) > 1e-6)
    model = Quadratic(A, w)
    fill_grad(model)
    grad_before = model.w.grad.clone()
    res = probe_direction(model, None, None, identity_loss, lr)

    g = A @ w
    Ag = A @ g
    gn = np.linalg.norm(g)
    etas = np.array(ETA_MULTIPLIERS) * lr
    np.testing.assert_allclose(res["eta"], etas, rtol=1e-15)
    np.testing.assert_allclose(res["grad_norm"], gn, rtol=1e-12)
    np.testing.assert_allclose(res["loss"], 0.5 * w @ A @ w, rtol=1e-12)
    along = [0.5 * (w - e * g) @ A @ (w - e * g) for e in etas]
    scale = 0.5 * abs(w) @ abs(A) @ abs(w) + 1e-300  # rounding in the subtraction is relative to this
    np.testing.assert_allclose(res["loss_along"], along, rtol=1e-10, atol=1e-12 * scale)
    # g - g_eta = η A g: computed by subtraction, so rounding is relative to ‖g‖, not to η‖Ag‖.
    change = etas * np.linalg.norm(Ag)
    np.testing.assert_allclose(res["grad_change"], change, rtol=1e-8, atol=1e-12 * gn)
    np.testing.assert_allclose(res["grad_change_rel"], change / gn, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(res["beta"], np.linalg.norm(Ag) / gn, rtol=1e-8,
                               atol=1e-12 / etas.min())
    # p.grad and w untouched
    assert torch.equal(model.w.grad, grad_before)
    assert torch.equal(model.w.detach(), torch.tensor(w, dtype=torch.float64))


def _snapshot(model, optimizer):
    opt = optimizer.state_dict()
    opt_tensors = [(k, name, v.clone()) for k, st_ in opt["state"].items() for name, v in st_.items()
                   if torch.is_tensor(v)]
    return {"params": [p.detach().clone() for p in model.parameters()],
            "grads": [p.grad.clone() for p in model.parameters()],
            "buffers": [(n, b.clone()) for n, b in model.named_buffers()],
            "opt": opt_tensors, "opt_groups": opt["param_groups"],
            "flags": [m.training for m in model.modules()],
            "rng": torch.get_rng_state()}


def _assert_same(a, b):
    assert all(torch.equal(x, y) for x, y in zip(a["params"], b["params"]))
    assert all(torch.equal(x, y) for x, y in zip(a["grads"], b["grads"]))
    assert [n for n, _ in a["buffers"]] == [n for n, _ in b["buffers"]]
    for (n, x), (_, y) in zip(a["buffers"], b["buffers"]):
        assert x.dtype == y.dtype and torch.equal(x, y), n
    assert len(a["opt"]) == len(b["opt"]) > 0
    assert all(k1 == k2 and n1 == n2 and torch.equal(x, y) for (k1, n1, x), (k2, n2, y) in zip(a["opt"], b["opt"]))
    assert a["opt_groups"] == b["opt_groups"]
    assert a["flags"] == b["flags"]
    assert torch.equal(a["rng"], b["rng"])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_probe_restores_model_and_optimizer_bitwise(mode):
    torch.manual_seed(0)
    model = create_model("MyNet", dropout=0.0)   # the probes are for VGG_A, which has no dropout
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    loss_fn = nn.functional.nll_loss
    for _ in range(3):  # momentum buffers exist after the first step
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    train_loss = loss_fn(model(x), y)
    train_loss.backward()
    model.train(mode == "train")
    before = _snapshot(model, opt)
    assert any(n.endswith("running_mean") for n, _ in before["buffers"])
    res = probe_direction(model, x, y, loss_fn, lr=0.05)
    _assert_same(before, _snapshot(model, opt))
    assert model.training == (mode == "train")
    # probed in train mode (batch statistics), i.e. the function whose gradient p.grad is
    assert res["loss"] == pytest.approx(train_loss.item(), rel=1e-5)
    assert all(math.isfinite(v) for v in [res["loss"], res["beta"], *res["loss_along"], *res["grad_change"]])


def test_probe_requires_gradients():
    model = create_model("MyNet", dropout=0.0)   # the probes are for VGG_A, which has no dropout
    with pytest.raises(ValueError, match="p.grad"):
        probe_direction(model, torch.randn(2, 3, 32, 32), torch.zeros(2, dtype=torch.long),
                        nn.functional.nll_loss, lr=0.1)


def test_training_trajectory_is_bit_identical_with_probe(synthetic_data):
    config = TrainConfig(model="MyNet", model_args={"dropout": 0.0}, lr=0.05, momentum=0.9, epochs=1, batch_size=64, deterministic=True,
                         seed=3, channels_last=False, precision="fp32")
    data = synthetic_data(n_train=640, n_test=100, seed=0)   # 10 steps of 64

    def recorder(states, probe=None):
        def hook(step, model, x, y, loss_fn, optimizer):
            if probe is not None:
                probe(step, model, x, y, loss_fn, optimizer)
            states.append((torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone(),
                           torch.cat([p.grad.reshape(-1) for p in model.parameters()]).clone(),
                           torch.cat([b.reshape(-1).double() for b in model.buffers()]).clone()))
        return hook

    plain_states, probed_states = [], []
    plain = train(config, data, on_backward=recorder(plain_states))
    probe = TrajectoryProbe(lr=0.05, every=2)
    probed = train(config, data, on_backward=recorder(probed_states, probe))

    assert len(plain.step_loss) == 10
    assert plain.step_loss == probed.step_loss
    assert plain.epochs[-1]["test_acc"] == probed.epochs[-1]["test_acc"]
    assert plain.epochs[-1]["test_loss"] == probed.epochs[-1]["test_loss"]
    assert len(plain_states) == len(probed_states) == 10
    for a, b in zip(plain_states, probed_states):
        assert all(torch.equal(u, v) for u, v in zip(a, b))

    assert [r["step"] for r in probe.results] == [0, 2, 4, 6, 8]
    assert probe.seconds > 0
    for r in probe.results:
        assert len(r["eta"]) == len(ETA_MULTIPLIERS)
        nums = [r["train_loss"], r["grad_norm"], r["beta"], *r["loss_along"], *r["grad_change"],
                *r["grad_change_rel"]]
        assert all(math.isfinite(v) for v in nums)
    # the probe's loss at w_t is the trainer's loss on that batch
    for r in probe.results:
        assert r["train_loss"] == pytest.approx(plain.step_loss[r["step"]], rel=1e-5)
    assert probe.results[0]["handout_beta"] is None
    for r in probe.results[1:]:
        assert math.isfinite(r["handout_beta"]) and r["handout_beta"] > 0
        assert math.isfinite(r["handout_last_layer_grad_change"]) and r["handout_last_layer_grad_change"] > 0
    s = probe.summary()
    assert s["n_probes"] == 5 and s["train_loss"] == [r["train_loss"] for r in probe.results]
    assert len(s["grad_change"]) == len(ETA_MULTIPLIERS)
    assert s["loss_along_min"] <= s["loss_along_max"]
    assert all(math.isfinite(s[k]) for k in ("beta", "grad_change_max", "grad_change_rel_max", "handout_beta",
                                             "handout_last_layer_grad_change"))


def test_handout_beta_on_quadratic_with_hand_sgd():
    rng = np.random.default_rng(5)
    d = 6
    A = spd(rng.normal(size=(d, d)), rng.uniform(0.1, 5.0, d))
    lr = 0.05
    model = Quadratic(A, rng.normal(size=d))
    probe = TrajectoryProbe(lr=lr, every=3)
    ws = []
    for step in range(7):
        fill_grad(model)
        ws.append(model.w.detach().numpy().copy())
        probe(step, model, None, None, identity_loss, None)
        with torch.no_grad():
            model.w -= lr * model.w.grad
    assert [r["step"] for r in probe.results] == [0, 3, 6]
    assert probe.results[0]["handout_beta"] is None
    for r in probe.results[1:]:
        i = r["step"]
        dw = ws[i] - ws[i - 1]
        np.testing.assert_allclose(r["handout_beta"], np.linalg.norm(A @ dw) / np.linalg.norm(dw), rtol=1e-9)
        assert r["handout_last_layer_grad_change"] is None  # no nn.Linear in the quadratic


def test_handout_last_layer_is_final_linear():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    assert last_linear(model) is model[2]
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    loss_fn = nn.functional.cross_entropy
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    probe = TrajectoryProbe(lr=0.1, every=2)
    grads = []
    for step in range(3):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x[step:step + 6]), y[step:step + 6]).backward()
        grads.append(torch.cat([model[2].weight.grad.reshape(-1), model[2].bias.grad]).clone())
        probe(step, model, x[step:step + 6], y[step:step + 6], loss_fn, opt)
        opt.step()
    r = probe.results[-1]
    assert r["step"] == 2
    assert r["handout_last_layer_grad_change"] == pytest.approx((grads[2] - grads[1]).norm().item(), rel=1e-6)


def test_default_every_and_validation():
    assert DEFAULT_EVERY >= 1
    assert TrajectoryProbe(lr=0.1).every == DEFAULT_EVERY
    with pytest.raises(ValueError):
        TrajectoryProbe(lr=0.1, every=0)
    with pytest.raises(ValueError):
        TrajectoryProbe(lr=0.0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_saved_state_undoes_a_training_step_bitwise(optimizer):
    """bnbench.engine.state.SavedState, the one snapshot behind the probes and the CUDA-graph self-check: with
    parameters and optimizer state (the graph's fallback) it undoes a whole training step; by default (the probes')
    it keeps buffers, train flags and the RNG, and leaves the parameters alone."""
    from bnbench.engine.state import SavedState

    torch.manual_seed(0)
    model = create_model("MyNet", dropout=0.5)
    opt = (torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9) if optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=1e-3))
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))

    def step():
        opt.zero_grad()
        nn.functional.nll_loss(model(x), y).backward()
        opt.step()

    step()   # optimizer state exists from here on
    before = _snapshot(model, opt)
    saved = SavedState(model, parameters=True, optimizer=opt, modes=False, rng=False)
    step()
    saved.restore()
    torch.set_rng_state(before["rng"])   # this snapshot leaves the RNG alone
    after = _snapshot(model, opt)
    after["grads"] = before["grads"]      # gradients are not training state: the next step recomputes them
    _assert_same(before, after)

    probe_like = SavedState(model)
    params = [p.detach().clone() for p in model.parameters()]
    step()                                # moves the weights, the running statistics and the RNG (dropout)
    model.eval()
    probe_like.restore()
    assert not all(torch.equal(a, p) for a, p in zip(params, model.parameters()))   # parameters not kept
    kept = _snapshot(model, opt)
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(before["buffers"], kept["buffers"]))
    assert kept["flags"] == before["flags"] and torch.equal(kept["rng"], before["rng"])
