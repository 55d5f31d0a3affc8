"""The model zoo: documented parameter counts, shapes, registry, init schemes, structure table."""
import math
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F

from bnbench.engine.config import TrainConfig
from bnbench.errors import ConfigError
from bnbench.engine.models import (INIT_SCHEMES, ModelInfo, count_parameters, create_model, format_structure,
                            init_weights, list_models, model_info, outputs_of, register_model, structure_table)
from bnbench.engine.models.resnet import ResNet
from bnbench.engine.models.vgg import VGG_A, VGGNet

# (name, kwargs, parameters) as documented in the report (1.1, 1.2, 2.1 and the study's posted code).
COUNTS = [
    ("MyNet", {}, 152_820),
    ("MyNet", {"hidden": 500}, 657_220),
    ("MyNet", {"dropout": 0}, 152_820),
    ("MyNet", {"hidden": 500, "dropout": 0}, 657_220),
    ("MyNet", {"batch_norm": False}, 152_680),
    ("MyNet", {"hidden": 500, "batch_norm": False}, 657_080),
    ("MyNet", {"hidden": 500, "conv2_kernel": 3}, 916_220),
    ("MyNet", {"hidden": 100, "conv2_kernel": 3}, 191_820),
    ("MyNet", {"hidden": 500, "activation": "tanh"}, 657_220),
    ("MyNet", {"hidden": 100, "activation": "tanh"}, 152_820),
    ("ResNet", {}, 4_737_098),
    ("ResNet", {"shortcut": "projection"}, 4_910_922),
    ("ResNet_Projection", {}, 4_910_922),
    ("VGGNet", {}, 14_777_162),
    ("VGGNet", {"dropout": 0}, 14_777_162),
    ("VGG_A", {}, 9_750_922),
    ("VGG_A_BatchNorm", {}, 9_756_426),
]
NAMES = ["MyNet", "ResNet", "ResNet_Projection", "VGGNet", "VGG_A", "VGG_A_BatchNorm"]


@pytest.mark.parametrize("name,kwargs,expected", COUNTS)
def test_parameter_count(name, kwargs, expected):
    assert count_parameters(create_model(name, **kwargs)) == expected


@pytest.mark.parametrize("name", NAMES)
def test_forward_shape_and_outputs(name):
    torch.manual_seed(0)
    model = create_model(name)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert model_info(name).outputs in ("log_probs", "logits")
    if model_info(name).outputs == "log_probs":
        torch.testing.assert_close(out.exp().sum(1), torch.ones(2))


@pytest.mark.parametrize("name", NAMES)
def test_channels_last_autocast_backward(name):
    torch.manual_seed(0)
    model = create_model(name).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 32, 32).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    out.float().sum().backward()
    assert out.shape == (2, 10)
    assert all(p.grad is not None for p in model.parameters())


def test_list_models():
    assert list_models("VGG*") == ["VGGNet", "VGG_A", "VGG_A_BatchNorm"]
    assert list_models("ResNet*") == ["ResNet", "ResNet_Projection"]
    assert list_models() == sorted(NAMES)
    assert list_models("nope*") == []


def test_unknown_model_lists_available_names():
    with pytest.raises(ConfigError, match="VGG_A_BatchNorm") as err:
        create_model("VGG19")
    assert "VGG19" in str(err.value)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="activation.*relu.*tanh"):
        create_model("MyNet", activation="gelu")
    with pytest.raises(ConfigError, match="conv2_kernel"):
        create_model("MyNet", conv2_kernel=7)
    with pytest.raises(ConfigError, match="hidden"):
        create_model("MyNet", hidden=0)
    with pytest.raises(ConfigError, match="dropout"):
        create_model("MyNet", dropout=1.0)
    with pytest.raises(ConfigError, match="dropout"):
        create_model("MyNet", dropout=True)
    with pytest.raises(ConfigError, match="dropout"):
        create_model("VGGNet", dropout=-0.1)
    with pytest.raises(ConfigError, match="'batch_norm'.*dropout"):
        create_model("VGGNet", batch_norm=True)
    with pytest.raises(ConfigError, match="shortcut.*'none'.*'projection'"):
        create_model("ResNet", shortcut="conv")
    with pytest.raises(ConfigError, match="'shortcut'.*none"):
        create_model("ResNet_Projection", shortcut="none")
    with pytest.raises(ConfigError, match="'width'.*batch_norm"):
        create_model("VGG_A", width=2)
    with pytest.raises(ConfigError, match="'batch_norm'.*none"):
        create_model("VGG_A_BatchNorm", batch_norm=False)


def _convs_and_linears(model):
    return [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


@pytest.mark.parametrize("name", ["MyNet", "ResNet", "VGGNet"])
def test_xavier_uniform_is_the_studys_linear_only_init(name):
    torch.manual_seed(0)
    fresh = create_model(name).state_dict()
    torch.manual_seed(0)
    model = create_model(name)
    assert init_weights(model, "xavier_uniform") is model
    linears = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert linears
    after = model.state_dict()
    for key, value in after.items():
        if key.rsplit(".", 1)[0] not in linears:  # convolutions and BatchNorm keep PyTorch's default
            assert torch.equal(value, fresh[key]), key
    for n, m in model.named_modules():
        if isinstance(m, torch.nn.Linear):
            fan_out, fan_in = m.weight.shape
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert not torch.equal(m.weight, fresh[f"{n}.weight"])
            assert m.weight.abs().max() <= bound
            if m.weight.numel() >= 1000:  # uniform on [-bound, bound]: std = bound / sqrt(3)
                assert m.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
            assert torch.equal(m.bias, torch.full_like(m.bias, 0.01))


def test_xavier_normal_is_the_templates_init():
    torch.manual_seed(0)
    model = create_model("MyNet")
    before = model.features.conv1.weight.clone()
    init_weights(model, "xavier_normal")
    assert not torch.equal(model.features.conv1.weight, before)
    assert all(not m.bias.any() for m in _convs_and_linears(model))
    assert torch.equal(model.features.bn1.weight, torch.ones(20))
    assert not model.features.bn1.bias.any()


def test_default_init_changes_nothing():
    torch.manual_seed(0)
    model = create_model("ResNet")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    init_weights(model, "default")
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_vgg_a_template_init_has_zero_biases():
    for name in ("VGG_A", "VGG_A_BatchNorm"):
        assert all(not m.bias.any() for m in _convs_and_linears(create_model(name)))


def test_unknown_init_scheme():
    with pytest.raises(ConfigError, match="xavier_normal"):
        init_weights(create_model("MyNet"), "kaiming")
    assert INIT_SCHEMES == ("default", "xavier_uniform", "xavier_normal")


@pytest.mark.parametrize("name", ["MyNet", "VGG_A"])
def test_seeded_construction_is_reproducible(name):
    torch.manual_seed(2020)
    a = create_model(name).state_dict()
    torch.manual_seed(2020)
    b = create_model(name).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", NAMES)
def test_structure_table_sums_to_parameter_count(name):
    model = create_model(name)
    model.train()
    rows = structure_table(model)
    assert sum(r["params"] for r in rows) == count_parameters(model)
    assert model.training and all(m.training for m in model.modules())
    assert format_structure(name, rows).splitlines()[-1].endswith(f"{count_parameters(model):,}")


def test_structure_table_mynet_shapes():
    rows = structure_table(create_model("MyNet"))
    conv2 = [r for r in rows if r["layer"] == "features.conv2"]
    assert conv2 and conv2[0]["output_shape"] == (1, 50, 10, 10) and conv2[0]["type"] == "Conv2d"
    assert rows[-1]["output_shape"] == (1, 10)


def test_vgg_a_variants_differ_only_by_argument():
    plain, bn = create_model("VGG_A"), create_model("VGG_A_BatchNorm")
    assert type(plain) is type(bn) is VGG_A
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in bn.modules()) == 8
    assert count_parameters(VGG_A(batch_norm=True)) == count_parameters(bn)


# --- the study's VGGNet, ResNet variants and MyNet's dropout (the posted code) -------------------------

def test_vggnet_is_the_studys_network():
    model = create_model("VGGNet")
    assert type(model) is VGGNet and count_parameters(model) == 14_777_162
    rows = structure_table(model)
    after_blocks = [r["output_shape"] for r in rows if r["layer"].startswith("features.block") and r["type"] == "ReLU"]
    assert after_blocks == [(1, 64, 16, 16), (1, 128, 9, 9), (1, 128, 6, 6), (1, 256, 5, 5), (1, 512, 4, 4)]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs].count((3, 3)) == 10 and [c.kernel_size for c in convs].count((1, 1)) == 3
    assert all(c.padding == (1, 1) for c in convs)
    # BatchNorm after each block's pooling, then ReLU.
    for block in model.features:
        assert [type(m).__name__ for m in block][-3:] == ["MaxPool2d", "BatchNorm2d", "ReLU"]
    linears = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == [(8192, 1024), (1024, 1024), (1024, 10)]
    drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(drops) == 2 and all(d.p == 0.5 for d in drops)
    assert not any(isinstance(m, torch.nn.Dropout) for m in create_model("VGGNet", dropout=0).modules())


def test_dropout2d_on_2d_input_is_elementwise_dropout():
    """Why VGGNet uses nn.Dropout where the posted code has nn.Dropout2d on (N, 1024) activations."""
    x = torch.ones(64, 1024)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(3)
        a = F.dropout2d(x, 0.5, training=True)
    assert any("2-D input to dropout2d" in str(w.message) for w in caught)
    torch.manual_seed(3)
    b = F.dropout(x, 0.5, training=True)
    assert torch.equal(a, b)  # same mask from the same RNG state
    assert set(a.unique().tolist()) == {0.0, 2.0}
    assert 0.45 < (a == 0).float().mean().item() < 0.55
    assert ((a == 0).all(1)).sum() == 0  # no whole "channel" (row) dropped


def test_resnet_variants_differ_by_the_three_projections():
    plain, proj = create_model("ResNet"), create_model("ResNet_Projection")
    assert type(plain) is type(proj) is ResNet
    assert count_parameters(proj) - count_parameters(plain) == 173_824
    assert [b.shortcut is None for b in (plain.layer1, plain.layer2, plain.layer3, plain.layer4)] == [True] * 4
    assert [b.shortcut is None for b in (proj.layer1, proj.layer2, proj.layer3, proj.layer4)] == [True, False, False, False]
    extra = sum(p.numel() for n, p in proj.named_parameters() if ".shortcut." in n)
    assert extra == 173_824
    # The table's variant keeps its state_dict keys: projection weights are the only additions.
    assert set(proj.state_dict()) - set(plain.state_dict()) == {k for k in proj.state_dict() if ".shortcut." in k}


def test_mynet_dropout_as_posted():
    model = create_model("MyNet")
    assert list(model.features._modules) == ["conv1", "bn1", "act1", "pool1", "drop1", "conv2", "bn2", "act2", "pool2"]
    assert list(model.classifier._modules) == ["fc1", "act3", "drop2", "fc2"]
    assert model.features.drop1.p == model.classifier.drop2.p == 0.5
    assert create_model("MyNet", dropout=0.25).classifier.drop2.p == 0.25
    plain = create_model("MyNet", dropout=0)
    assert not any(isinstance(m, torch.nn.Dropout) for m in plain.modules())
    assert list(plain.classifier._modules) == ["fc1", "act3", "fc2"]


def test_mynet_dropout_is_active_in_train_mode_only():
    torch.manual_seed(0)
    model = create_model("MyNet")
    x = torch.randn(4, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
        model.train()
        assert not torch.equal(model(x), model(x))


# --- registry metadata -------------------------------------------------------------------------------

EXPECTED_INFO = {"MyNet": ("log_probs", 32, "1.1"), "ResNet": ("log_probs", 32, "1.2"),
                 "ResNet_Projection": ("log_probs", 32, "1.2"), "VGGNet": ("log_probs", 32, "1.2"),
                 "VGG_A": ("logits", 128, "2.1"), "VGG_A_BatchNorm": ("logits", 128, "2.1")}


def test_model_info_metadata():
    assert sorted(EXPECTED_INFO) == list_models()
    for name, (outputs, batch, section) in EXPECTED_INFO.items():
        info = model_info(name)
        assert isinstance(info, ModelInfo) and info.name == name
        assert (info.outputs, info.study_batch_size, info.section) == (outputs, batch, section)
        assert info.doc
    with pytest.raises(ConfigError, match="unknown model 'VGG19'"):
        model_info("VGG19")


@pytest.mark.parametrize("name", NAMES)
def test_registered_outputs_match_the_forward(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 3, 32, 32))
    info = model_info(name)
    assert outputs_of(model) == info.outputs   # the baseline's lookup by class finds the same entry
    sums = out.exp().sum(1)
    if info.outputs == "log_probs":
        torch.testing.assert_close(sums, torch.ones(3))
    else:
        assert info.outputs == "logits" and not torch.allclose(sums, torch.ones(3), atol=1e-3)


def test_register_model_bare_and_with_metadata(monkeypatch):
    from bnbench.engine.models import catalog
    monkeypatch.setattr(catalog, "_CATALOG", dict(catalog._CATALOG))

    @register_model
    class _Bare(torch.nn.Module):
        outputs = "logits"

    @register_model(study_batch_size=7, section="x")
    def _Factory():
        return _Bare()

    assert model_info("_Bare") == ModelInfo("_Bare", "logits", None, None)
    assert model_info("_Factory") == ModelInfo("_Factory", None, 7, "x")
    assert isinstance(create_model("_Factory"), _Bare)
    with pytest.raises(ConfigError, match="outputs"):
        register_model(outputs="probs")(lambda: None)
    with pytest.raises(ConfigError, match="class says 'logits'"):
        register_model(outputs="log_probs")(_Bare)
    assert outputs_of(_Bare()) == "logits"
    with pytest.raises(ConfigError, match="already registered by bnbench.engine.models.mynet.MyNet"):
        register_model(type("MyNet", (torch.nn.Module,), {}))
    # A registered model is a valid TrainConfig model: the config asks the same catalogue.
    assert TrainConfig(model="_Factory").model == "_Factory"


def test_builtin_models_are_plain_classes_described_once():
    """The catalogue is the one description: the model classes carry no ``outputs`` of their own."""
    for name in list_models():
        assert not hasattr(model_info(name).load(), "outputs"), name


def test_catalogue_and_config_are_torch_free():
    code = ("import sys, bnbench.engine.config as c, bnbench.engine.models as m; "
            "c.TrainConfig(model='VGG_A', loss='cross_entropy'); m.model_info('MyNet'); m.list_models(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- every model trains ------------------------------------------------------------------------------

@pytest.mark.parametrize("name,steps,lr", [("MyNet", 10, 0.02), ("VGGNet", 6, 0.02), ("ResNet_Projection", 3, 0.01)])
def test_model_lowers_its_training_loss(synthetic_data, name, steps, lr):
    """A few SGD steps on one fixed learnable batch of 16 lower the (train-mode) loss clearly."""
    data = synthetic_data(n_train=16, n_test=1, seed=0)
    x, y = (data.train_x.float() / 255 - 0.5) / 0.5, data.train_y
    torch.manual_seed(0)
    model = create_model(name).train()  # MyNet and VGGNet with their default dropout 0.5
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = F.nll_loss(model(x), y).item()
    assert math.isfinite(final) and final < 0.8 * losses[0], (losses, final)
