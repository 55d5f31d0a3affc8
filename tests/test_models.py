"""The model zoo: documented parameter counts, shapes, registry, init schemes, structure table."""
import pytest
import torch

from bnbench.errors import ConfigError
from bnbench.models import (INIT_SCHEMES, count_parameters, create_model, format_structure,
                            init_weights, list_models, structure_table)
from bnbench.models.vgg import VGG_A

# (name, kwargs, parameters) as documented in the report (1.1, 1.2, 2.1) or chosen in vgg.py.
COUNTS = [
    ("MyNet", {}, 152_820),
    ("MyNet", {"hidden": 500}, 657_220),
    ("MyNet", {"batch_norm": False}, 152_680),
    ("MyNet", {"hidden": 500, "batch_norm": False}, 657_080),
    ("MyNet", {"hidden": 500, "conv2_kernel": 3}, 916_220),
    ("MyNet", {"hidden": 100, "conv2_kernel": 3}, 191_820),
    ("MyNet", {"hidden": 500, "activation": "tanh"}, 657_220),
    ("ResNet", {}, 4_737_098),
    ("VGGNet", {"batch_norm": False}, 14_777_098),
    ("VGGNet", {"batch_norm": True}, 14_785_546),
    ("VGGNet", {"head": ()}, 14_728_266),
    ("VGG_A", {}, 9_750_922),
    ("VGG_A_BatchNorm", {}, 9_756_426),
]
NAMES = ["MyNet", "ResNet", "VGGNet", "VGG_A", "VGG_A_BatchNorm"]


@pytest.mark.parametrize("name,kwargs,expected", COUNTS)
def test_parameter_count(name, kwargs, expected):
    assert count_parameters(create_model(name, **kwargs)) == expected


@pytest.mark.parametrize("name", NAMES)
def test_forward_shape_and_outputs(name):
    torch.manual_seed(0)
    model = create_model(name)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert model.outputs in ("log_probs", "logits")
    if model.outputs == "log_probs":
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
    with pytest.raises(ConfigError, match="batch_norm"):
        create_model("VGGNet", batch_norm="yes")
    with pytest.raises(ConfigError, match="head"):
        create_model("VGGNet", head=(100, -1))
    with pytest.raises(ConfigError, match="'width'.*batch_norm"):
        create_model("VGG_A", width=2)
    with pytest.raises(ConfigError, match="'batch_norm'.*none"):
        create_model("VGG_A_BatchNorm", batch_norm=False)


def _convs_and_linears(model):
    return [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def test_xavier_uniform_changes_weights_and_zeros_biases():
    torch.manual_seed(0)
    model = create_model("MyNet")
    before = model.features.conv1.weight.clone()
    assert init_weights(model, "xavier_uniform") is model
    assert not torch.equal(model.features.conv1.weight, before)
    assert all(not m.bias.any() for m in _convs_and_linears(model))
    assert torch.equal(model.features.bn1.weight, torch.ones(20))


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
