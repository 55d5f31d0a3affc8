"""The noisy BatchNorm itself, and the study as bnbench sees it once the package is installed."""
import subprocess
import sys

import pytest
import torch

import bnbench
from noisy_bn.model import NoisyBatchNorm2d, vgg_a_noisy_bn


def test_training_adds_fresh_noise_of_nonzero_mean_and_nonunit_variance_evaluation_none():
    torch.manual_seed(0)
    noisy, plain = NoisyBatchNorm2d(8, noise_mean=0.5, noise_scale=1.25), torch.nn.BatchNorm2d(8)
    x = torch.randn(64, 8, 6, 6) * 3 + 1
    y = plain(x)
    first, second = noisy(x), noisy(x)
    assert not torch.allclose(first, second)                      # drawn afresh at every call (every step)
    noise = first - y
    assert noise.abs().mean() > 0.1                               # a real perturbation of every activation
    assert (first / y.clamp(min=1e-3)).std() > 0                  # not a constant shift
    # each activation's shift is U(-0.5, 0.5) and its scale U(1, 1.25): y' - y = (s - 1) y + m is bounded by that
    assert bool((noise.abs() <= 0.25 * y.abs() + 0.5 + 1e-5).all())
    assert bool((noise.abs() > 0.25 * y.abs() + 0.45).any())      # and reaches it: the drawn range is the stated one
    noisy.eval(), plain.eval()
    noisy.load_state_dict(plain.state_dict())
    assert torch.equal(noisy(x), plain(x))                        # no noise in evaluation


def test_the_network_is_vgg_a_batchnorm_with_every_batchnorm_noisy():
    model = vgg_a_noisy_bn()
    reference = bnbench.create_model("VGG_A_BatchNorm")
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters()) == 9_756_426
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 8 and all(isinstance(m, NoisyBatchNorm2d) for m in norms)
    assert bnbench.create_model("VGG_A_NoisyBatchNorm")(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_bnbench_finds_the_study_through_its_entry_point():
    assert "noisy_bn" in bnbench.load_studies()
    assert [c.id for c in bnbench.claims_in("noisy-bn")] == ["noisy-bn/noisy-bn-trains-like-bn",
                                                             "noisy-bn/noisy-bn-beats-no-bn"]
    out = subprocess.run([sys.executable, "-m", "bnbench.cli", "claims", "noisy-bn"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "equivalent, margin 0.02" in out.stdout, out.stdout + out.stderr


def test_only_the_public_api_is_used():
    """The example is the API's proof: nothing under noisy_bn imports a bnbench module but the package itself."""
    import ast
    from pathlib import Path

    found = set()
    for path in Path(__file__).resolve().parents[1].rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
    assert {m for m in found if m.startswith("bnbench")} == {"bnbench"}, found


@pytest.mark.parametrize("bad", [dict(noise_mean=-1.0), dict(noise_scale=0.5)])
def test_impossible_noise_is_refused(bad):
    with pytest.raises(bnbench.ConfigError):
        NoisyBatchNorm2d(4, **bad)


def test_the_published_quick_verdicts_are_what_the_records_say():
    """README.md's "Measured" section is generated from results/quick/ by ``bnbench publish``; ``bnbench verify``
    reads every record back, decides both claims again and compares them with summary.json and the README."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "results" / "quick"
    out = subprocess.run([sys.executable, "-m", "bnbench.cli", "verify", str(folder)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(list((folder / "records").rglob("*.json"))) == 9   # 3 experiments x 3 seeds
