"""A user's own study, the way README "Your own study" says: declared from ``import bnbench`` only (sections with
their scales, experiments, claims, metrics as objects, documented rows, models), found through the
``bnbench.studies`` entry points, its own data handed in through a hook, and results that describe themselves to a
process that never declared the claim."""
import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

import bnbench
from bnbench.errors import BnbenchError, ConfigError


@pytest.fixture
def registries():
    """Declarations made by a test are undone after it: every registry as it was."""
    from bnbench.engine.models import catalog as models
    from bnbench.study import catalog  # noqa: F401  (the study's own declarations first)
    from bnbench.study.claims import CLAIMS
    from bnbench.study.documented import ROWS
    from bnbench.study.experiments import EXPERIMENTS
    from bnbench.study.sections import SECTIONS
    from bnbench.verdicts.metrics import METRICS

    kept = [(r, dict(r)) for r in (CLAIMS, ROWS, EXPERIMENTS, SECTIONS, METRICS, models._CATALOG)]
    yield
    for registry, before in kept:
        registry.clear()
        registry.update(before)


def test_importing_bnbench_imports_no_torch_and_offers_the_api():
    code = ("import sys, bnbench\n"
            "names = ['section', 'Scale', 'Setting', 'assumption', 'recipe', 'experiment', 'claim', 'Metric',\n"
            "         'register_metric', 'document', 'register_model', 'experiments_in', 'claims_in', 'load_studies',\n"
            "         'RunRecord']\n"
            "[getattr(bnbench, n) for n in names]\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "print(sorted(set(names) - set(dir(bnbench))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_declared_section_is_cut_by_every_profile_and_by_the_command_line(registries):
    from bnbench.study.profiles import get_profile, scaled_config, with_overrides
    from bnbench.study.sections import DEFAULT_SCALES

    bnbench.section("toy", epochs=bnbench.Setting(30, "my paper"), base={"batch_size": bnbench.Setting(64, "my paper")},
                    scales={"quick": bnbench.Scale(epochs=3, train_per_class=300)})
    exp = bnbench.experiment("toy/mynet", "MyNet", bnbench.recipe("toy", "MyNet", model_source="my paper"))
    assert exp.config.epochs == 30 and exp.config.batch_size == 64 and exp.provenance["epochs"] == "my paper"
    # a default the user's base does not give is bnbench's, said with what it does, not "study code"
    assert exp.provenance["train_per_class"] == ("assumption: bnbench's default (None: the whole official training "
                                                 "split)")
    assert not any(source == "study code" for source in exp.provenance.values()), exp.provenance
    smoke = scaled_config(exp.config, get_profile("smoke"), "toy", 0)
    assert (smoke.epochs, smoke.train_per_class) == (DEFAULT_SCALES["smoke"].epochs, 100)   # never the full scale
    quick = scaled_config(exp.config, get_profile("quick"), "toy", 0)
    assert (quick.epochs, quick.train_per_class) == (3, 300)                                 # its declared scale
    assert scaled_config(exp.config, get_profile("full"), "toy", 0).epochs == 30            # the study's scale
    cut = with_overrides(get_profile("full"), epochs=1, subset=20)                            # reaches it too
    assert (scaled_config(exp.config, cut, "toy", 0).epochs, scaled_config(exp.config, cut, "toy", 0).train_per_class) \
        == (1, 20)


@pytest.mark.parametrize("declare, message", [
    (lambda: bnbench.recipe("nowhere", "MyNet"), "section 'nowhere' is not declared"),
    (lambda: bnbench.section("1.1", epochs=bnbench.Setting(1, "x")), "declared twice"),
    (lambda: bnbench.section("a/b", epochs=bnbench.Setting(1, "x")), "without '/'"),
    (lambda: bnbench.section("s9", epochs=5), "epochs must be a Setting"),
    (lambda: bnbench.section("s9", epochs=bnbench.Setting(5, "x"), scales={"full": bnbench.Scale()}), "full profile"),
    (lambda: bnbench.Scale(epochs=0), "Scale(epochs=0)"),
    (lambda: bnbench.experiment("1.1/x", "x", bnbench.recipe("1.1", "MyNet"), documented="no/such/row"),
     "no documented row 'no/such/row'"),
    (lambda: bnbench.recipe("1.1", "MyNet", epocs=bnbench.Setting(3, "x")), "'epocs' is not a training setting"),
    (lambda: bnbench.claim("1.1/c", "s", bnbench.experiments_in("1.1")[0], bnbench.experiments_in("1.1")[1],
                           "greater", 0.01, "r", metric="test_accuracy"), "claim '1.1/c': unknown metric"),
    (lambda: bnbench.document("1.1/A", model="m", accuracy_percent=50, epochs=1), "'<section>/<table>/<row>'"),
    (lambda: bnbench.register_metric(bnbench.Metric("test_acc", "another")), "already registered"),
])
def test_declarations_are_checked_when_made_naming_what_and_the_fix(registries, declare, message):
    with pytest.raises(ConfigError, match=__import__("re").escape(message)):
        declare()


def test_a_metric_is_an_object_and_a_documented_row_a_call(registries):
    from bnbench.verdicts.metrics import METRICS

    bnbench.section("toy", epochs=bnbench.Setting(2, "mine"))
    a = bnbench.experiment("toy/a", "a", bnbench.recipe("toy", "MyNet"))
    b = bnbench.experiment("toy/b", "b", bnbench.recipe("toy", "MyNet", {"hidden": bnbench.Setting(500, "mine")}))
    loss = bnbench.Metric("final_train_loss", "the last epoch's training loss", unit="", regression="rise",
                          reader=lambda runs: runs[0].final_train_loss)
    c = bnbench.claim("toy/b-trains-lower", "hidden 500 trains to a lower loss", b, a, "less", 0.05, "mine",
                      metric=loss)
    assert c.metric is loss and METRICS["final_train_loss"] is loss
    row = bnbench.document("toy/1/a", model="MyNet", accuracy_percent=55.5, epochs=2)
    assert row.accuracy == pytest.approx(0.555)
    assert bnbench.experiment("toy/c", "c", bnbench.recipe("toy", "MyNet"), documented="toy/1/a").documented


STUDY = textwrap.dedent('''
    import bnbench
    from bnbench import Scale, Setting

    bnbench.section("toy", epochs=Setting(2, "my paper"), scales={"smoke": Scale(epochs=2, train_per_class=40,
                                                                                 test_per_class=20)})
    small = bnbench.experiment("toy/hidden-20", "hidden 20", bnbench.recipe(
        "toy", "MyNet", {"hidden": Setting(20, "my paper")}, model_source="my paper"))
    large = bnbench.experiment("toy/hidden-200", "hidden 200", bnbench.recipe(
        "toy", "MyNet", {"hidden": Setting(200, "my paper")}, model_source="my paper"))
    LOSS = bnbench.Metric("final_train_loss", "the last epoch's training loss", scale=1.0, unit=" nats",
                          regression="rise", reader=lambda runs: runs[0].final_train_loss)
    bnbench.claim("toy/wider-trains-lower", "a wider hidden layer trains to a lower loss", large, small, "less",
                  0.01, "my margin", metric=LOSS)
''')

CONFTEST = textwrap.dedent('''
    import bnbench
    import toy_study  # noqa: F401  (the declarations)

    def pytest_bnbench_load_data(config):
        return bnbench.synthetic_cifar(n_train=400, n_test=200, seed=0)

    def pytest_bnbench_modify_result(config, result, claim):
        result.notes.append(f"seen by the hook: {claim.id}")

    def pytest_bnbench_modify_summary(config, summary):
        summary.claims[0].extra["lab"] = "toy lab"
''')

BENCH = textwrap.dedent('''
    import pytest
    import bnbench

    @pytest.mark.parametrize("claim", bnbench.claims_in("toy"), ids=str)
    def test_claim(claim, check_claim):
        check_claim(claim)
''')


def test_a_users_study_runs_from_its_conftest_and_its_results_describe_themselves(tmp_path):
    """The README's "Your own study", as a user writes it: declarations in a module, data from a hook, a claim with
    its own metric; then, in processes that never saw the declarations, summary, report and compare show the claim
    from summary.json alone."""
    (tmp_path / "toy_study.py").write_text(STUDY)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_toy.py").write_text(BENCH)
    out = tmp_path / "out"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path), "COLUMNS": "120"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--benchmark-disable",
                           "--bnbench-out", str(out), str(tmp_path)], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "data from the pytest_bnbench_load_data hook (conftest.py)" in proc.stdout   # the header says whose
    records = sorted(p.parent.name for p in (out / "records").rglob("*.json"))
    assert records == ["toy_hidden-20", "toy_hidden-200"], records
    config = json.loads(next((out / "records").rglob("*.json")).read_text())["config"]
    assert (config["epochs"], config["train_per_class"]) == (2, 40)          # the section's smoke scale
    (claim,) = json.loads((out / "summary.json").read_text())["claims"]
    assert claim["described"]["sentence"] == "a wider hidden layer trains to a lower loss"
    assert (claim["described"]["metric"], claim["described"]["unit"], claim["described"]["regression"]) == \
        ("final_train_loss", " nats", "rise")
    assert "seen by the hook: toy/wider-trains-lower" in claim["notes"] and claim["extra"]["lab"] == "toy lab"

    clean = {k: v for k, v in env.items() if k != "PYTHONPATH"}   # a process that never declared the claim
    cli = [sys.executable, "-m", "bnbench.cli"]
    summary = subprocess.run(cli + ["summary", str(out)], capture_output=True, text=True, env=clean, timeout=120)
    assert summary.returncode == 0 and "does not know" not in summary.stdout, summary.stdout + summary.stderr
    assert "toy/wider-trains-lower" in summary.stdout and "nats" in summary.stdout, summary.stdout
    report = subprocess.run(cli + ["report", str(out)], capture_output=True, text=True, env=clean, timeout=120)
    assert report.returncode == 0, report.stderr
    assert "a wider hidden layer trains to a lower loss" in (out / "report.html").read_text()
    gate = subprocess.run(cli + ["compare", str(out), str(out)], capture_output=True, text=True, env=clean,
                          timeout=120)
    assert gate.returncode == 0 and "not judged" not in gate.stdout + gate.stderr, gate.stdout + gate.stderr


def test_an_entry_point_study_is_loaded_by_the_cli_and_a_broken_one_is_named(tmp_path, monkeypatch, registries):
    import importlib.metadata

    from bnbench import studies

    (tmp_path / "ep_study.py").write_text(STUDY.replace('"toy', '"eptoy'))
    (tmp_path / "ep_broken.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(studies, "_LOADED", {})
    monkeypatch.setenv("BNBENCH_STUDIES", "")
    found = [EntryPoint("eptoy", "ep_study", studies.GROUP)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: found if group == studies.GROUP else [])
    assert studies.load_studies() == {}                               # BNBENCH_STUDIES="": none
    monkeypatch.delenv("BNBENCH_STUDIES")
    assert studies.load_studies() == {"eptoy": "ep_study"}
    assert [c.id for c in bnbench.claims_in("eptoy")] == ["eptoy/wider-trains-lower"]
    found.append(EntryPoint("broken", "ep_broken", studies.GROUP))
    with pytest.raises(BnbenchError, match="installed study 'broken' \\(ep_broken\\) failed to load "
                                           "\\(RuntimeError: boom\\); fix it, or uninstall its package"):
        studies.load_studies()


@pytest.mark.parametrize("bad, message", [
    (lambda d: "not data", "returned str"),
    (lambda d: d.__class__(d.train_x.float(), d.train_y, d.test_x, d.test_y, "s"), "train_x is torch.float32"),
    (lambda d: d.__class__(d.train_x, d.train_y % 3, d.test_x, d.test_y, "s"), "each class at least once"),
    (lambda d: d.__class__(d.train_x, d.train_y[:-1], d.test_x, d.test_y, "s"), "one per image"),
])
def test_a_hooks_data_is_held_to_what_training_assumes(bad, message):
    from bnbench.engine.data import check_data

    good = bnbench.synthetic_cifar(n_train=40, n_test=20)
    assert check_data(good) is good
    with pytest.raises(bnbench.DataError, match=message):
        check_data(bad(good))


def test_the_readmes_own_study_declares_as_written(registries):
    """README "Your own study": its code block runs as printed, and declares what it says."""
    from pathlib import Path

    from bnbench.study.profiles import get_profile, scaled_config

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = readme.split("## Your own study", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
    wide = bnbench.experiments_in("3.1")[1]
    assert [c.id for c in bnbench.claims_in("3.1")] == ["3.1/wide-beats-narrow", "3.1/wide-trains-lower"]
    assert wide.documented == "3.1/2/wide" and wide.config.model_args["hidden"] == 1000
    assert scaled_config(wide.config, get_profile("quick"), "3.1", 0).epochs == 3


@pytest.mark.parametrize("value, address, want", [
    ("local", "auto", ("local", "auto")),
    ("ray", "auto", ("ray", "auto")),
    ("ray", "10.0.0.1:6379", ("ray", "10.0.0.1:6379")),                 # the older two options still work
    ("ray://head.example:10001", "auto", ("ray", "ray://head.example:10001")),
    ("ray:10.0.0.1:6379", "auto", ("ray", "10.0.0.1:6379")),
])
def test_one_executor_value_names_engine_and_address(value, address, want):
    from bnbench.executors import Executor, LocalExecutor, RayExecutor, make_executor, parse_executor

    assert parse_executor(value, address) == want
    made = make_executor(value, address)
    assert isinstance(made, Executor) and made.remote == (want[0] == "ray")   # the Protocol, checked at run time
    assert isinstance(made, RayExecutor if want[0] == "ray" else LocalExecutor)
    assert getattr(made, "address", want[1]) == want[1]


@pytest.mark.parametrize("value, address, message", [
    ("spark", "auto", "use local, ray, or ray://HEAD:PORT"),
    ("ray://a:1", "b:2", "name two clusters"),
    ("ray:", "auto", "--bnbench-executor"),
])
def test_an_executor_value_that_names_nothing_is_one_line(value, address, message):
    from bnbench.executors import parse_executor

    with pytest.raises(ConfigError, match=__import__("re").escape(message)):
        parse_executor(value, address)


def test_options_hold_the_executor_as_engine_and_address_once():
    """Options normalises the one value (``ray://HEAD:PORT``) when made: everything after reads the engine's name,
    and a Runner knows whether its runs train elsewhere without parsing again."""
    from bnbench.runner import Options, Runner

    options = Options(executor="ray:10.0.0.1:6379", out="unused")
    assert (options.executor, options.ray_address) == ("ray", "10.0.0.1:6379")
    assert Runner(options).remote and not Runner(Options(out="unused")).remote
    with pytest.raises(ConfigError, match="name two clusters"):
        Options(executor="ray://a:1", ray_address="b:2", out="unused")
