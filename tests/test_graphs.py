"""Whole-step CUDA graphs (bnbench.engine.cuda_graphs): the capture/replay logic, driven on the CPU through a stand-in
backend that replays by calling the step. What only a GPU can show (the capture itself, the speed) is in
tests/test_train.py's CUDA tests and the speed benchmark; here: the replayed run is the eager run, step for
step, a graph that is wired wrong is caught by the self-check and the run loses nothing, a capture that fails
falls back to eager, and the rules for when graphs apply."""
import pytest
import torch

from bnbench.engine import cuda_graphs as graphs
from bnbench.engine.config import TrainConfig
from bnbench.engine.train import train


@pytest.fixture(scope="module")
def synthetic(synthetic_data):
    return synthetic_data(n_train=230, n_test=60, seed=3)   # 230 = 4 full batches of 50 + a partial one


class ReplayByCalling:
    """Capture-and-replay semantics without CUDA: ``capture`` records the step and does NOT train (the state is
    put back, as a real capture only records); ``replay`` runs the recorded step on the static inputs and
    writes its results into the captured outputs. ``stale=True`` imitates a graph whose inputs are not wired
    through: it keeps replaying the batch it was captured with. ``fail`` raises at capture."""

    def __init__(self, stale=False, fail=False):
        self.stale, self.fail = stale, fail
        self.owner = None
        self.warmups = self.replays = 0

    def warmup(self, fn):
        self.warmups += 1
        return fn()

    def capture(self, fn):
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing\nmore detail")
        saved = self.owner.snapshot()
        outs = fn()
        self.owner.restore(saved)
        self.fn = fn
        self.outs = [o.clone() for o in outs]
        self.frozen = [t.clone() for t in self.owner.static]
        return self.outs

    def replay(self):
        self.replays += 1
        res = self.owner.eager_step(*self.frozen) if self.stale else self.fn()
        for out, r in zip(self.outs, res):
            out.copy_(r)


@pytest.fixture
def fake_cuda(monkeypatch):
    """Graphs on the CPU: the real eligibility rules as if on CUDA, and the stand-in backend."""
    made = []
    real = graphs.eligibility
    monkeypatch.setattr(graphs, "eligibility", lambda device, **kw: real(torch.device("cuda"), **kw))

    class Spy(graphs.GraphedStep):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.backend.owner = self
            made.append(self)

    def use(backend):
        monkeypatch.setattr(graphs, "backend_for", lambda device: backend)
        return made

    monkeypatch.setattr(graphs, "GraphedStep", Spy)
    return use


CFG = TrainConfig(model="MyNet", model_args={"dropout": 0.0}, lr=0.05, momentum=0.9, epochs=3, batch_size=50)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_replayed_run_is_the_eager_run(optimizer, synthetic, fake_cuda):
    cfg = CFG.replace(optimizer=optimizer, momentum=0.9 if optimizer == "sgd" else 0.0,
                      lr=0.05 if optimizer == "sgd" else 0.002)
    eager = train(cfg, synthetic, cuda_graphs=False)
    backend = ReplayByCalling()
    made = fake_cuda(backend)
    graphed = train(cfg, synthetic)
    step = made[0]
    # 3 epochs x (4 full + 1 partial) = 15 steps: 3 warm-up, capture at step 3 (replayed), 9 replays in all,
    # and the 3 partial batches eager
    assert backend.warmups == 3 and step.captured_at == 3
    assert backend.replays == 9 and step.eager_steps == 3
    assert graphed.step_loss == eager.step_loss            # the same run, bit for bit
    assert [e["train_acc"] for e in graphed.epochs] == [e["train_acc"] for e in eager.epochs]
    assert graphed.final_test_acc == eager.final_test_acc
    assert graphed.env["cuda_graphs"].startswith("on: captured at step 3, 9 replays, 3 eager")
    assert "self-check on 2 replays" in graphed.env["cuda_graphs"]
    assert eager.env["cuda_graphs"] == "off (turned off)"


def test_unwired_inputs_are_caught_and_the_run_loses_nothing(synthetic, fake_cuda):
    eager = train(CFG, synthetic, cuda_graphs=False)
    backend = ReplayByCalling(stale=True)
    fake_cuda(backend)
    rec = train(CFG, synthetic)
    # the capture batch (step 3) itself agrees; step 4 is the partial batch (eager); the first batch copied
    # in afterwards (step 5) exposes the stale graph, its state is put back and it trains eagerly
    assert rec.env["cuda_graphs"].startswith("failed, eager from there (self-check failed at step 5")
    assert backend.replays == 2
    assert rec.step_loss == eager.step_loss and rec.final_test_acc == eager.final_test_acc


def test_failed_capture_falls_back_to_eager(synthetic, fake_cuda):
    eager = train(CFG, synthetic, cuda_graphs=False)
    fake_cuda(ReplayByCalling(fail=True))
    rec = train(CFG, synthetic)
    assert rec.env["cuda_graphs"] == ("failed, eager from there (capture failed at step 3: RuntimeError: "
                                      "operation not permitted when stream is capturing)")
    assert rec.step_loss == eager.step_loss


def test_too_few_batches_to_capture(synthetic_data, fake_cuda):
    data = synthetic_data(n_train=100, n_test=50, seed=0)   # 2 full batches a run: all warm-up
    fake_cuda(ReplayByCalling())
    rec = train(CFG.replace(epochs=1), data)
    assert rec.env["cuda_graphs"] == "on, never captured (fewer full batches than the warm-up)"


def test_a_run_on_the_cpu_says_graphs_were_off(synthetic):
    rec = train(CFG.replace(epochs=1), synthetic)
    assert rec.env["cuda_graphs"] == "off (not available on cpu)"


@pytest.mark.parametrize("kw, why", [
    ({"wanted": False}, "off (turned off)"),
    ({"compile": True}, "off (compile=True"),
    ({"hooks": True}, "off (probes run Python"),
    ({"optimizer": "adagrad"}, "off (adagrad has no capturable implementation)"),
    ({"deterministic": True}, "off (deterministic"),
    ({"dropout": True}, "off (dropout"),
])
def test_when_graphs_do_not_apply(kw, why):
    base = dict(wanted=True, compile=False, optimizer="sgd", hooks=False, deterministic=False)
    cuda = torch.device("cuda")
    assert graphs.eligibility(cuda, **base) is None
    assert graphs.eligibility(cuda, **{**base, **kw}).startswith(why)
    assert graphs.eligibility(torch.device("cpu"), **base) == "off (not available on cpu)"


def test_probed_runs_stay_eager(synthetic, fake_cuda):
    made = fake_cuda(ReplayByCalling())
    rec = train(CFG.replace(epochs=1, probe_every=2), synthetic)
    assert rec.env["cuda_graphs"].startswith("off (probes") and made == []


def test_agreement_error():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 10, generator=g)
    other = torch.randn(64, 10, generator=g)
    assert graphs._agreement_error(a, a.clone()) == 0.0
    assert graphs._agreement_error(a, a * (1 + 1e-3)) < 0.01          # bf16-sized differences agree
    assert graphs._agreement_error(other, a) > 0.5                   # another batch does not
    # outputs dominated by one shared vector (a model at initialisation): the centred part still tells
    shared = torch.randn(10, generator=g) * 100
    assert graphs._agreement_error(shared + 0.1 * other, shared + 0.1 * a) > 0.5
    assert not graphs._agreement_error(a, torch.full_like(a, float("nan"))) <= graphs.AGREEMENT_TOL


def test_a_model_with_dropout_stays_eager(synthetic, fake_cuda):
    """The study's MyNet has Dropout(0.5): a replay draws masks the eager self-check cannot match, so such a run
    is not graphed at all rather than graphed unchecked."""
    made = fake_cuda(ReplayByCalling())
    rec = train(CFG.replace(epochs=1, model_args={"dropout": 0.5}), synthetic)
    assert rec.env["cuda_graphs"].startswith("off (dropout") and made == []
