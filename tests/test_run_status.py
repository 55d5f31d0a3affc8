"""``bnbench progress``: where a long run stands, read from its folder while it trains (bnbench.run_status)."""
import os
import time

import pytest

from bnbench.cli import main
from bnbench.engine.checkpoint import FORMAT, to_bytes
from bnbench.run_status import (FINISHED, STOPPED, TRAINING, WAITING, RunStanding, RunState, lock_holder,
                                planned_steps, standing, standing_lines)
from bnbench.store import Store
from bnbench.store.checkpoints import checkpoint_path
from bnbench.store.files import acquire_run_lock, release_run_lock
from bnbench.study.catalog import EXPERIMENTS
from bnbench.study.profiles import get_profile, scaled_config
from test_published import _fake_run

FULL_STEPS = 1563 * 50     # MyNet at the full profile: 50,000 images at batch 32, 50 epochs


def _checkpoint(folder, experiment: str, seed: int, epochs: int, seconds: float = 30.0) -> os.PathLike:
    """A mid-run checkpoint as the trainer leaves it after ``epochs`` epochs of ``seconds`` each."""
    exp, profile = EXPERIMENTS[experiment], get_profile("full")
    config = scaled_config(exp.config, profile, exp.section, seed)
    path = checkpoint_path(Store(folder).record_path(exp.id, profile.name, seed, config.hash))
    state = {"format": FORMAT, "config_hash": config.hash, "epoch": epochs, "step": 1563 * epochs,
             "epochs": [{"epoch": e, "steps": 1563, "train_time_s": seconds, "test_acc": 0.4 + 0.01 * e}
                        for e in range(1, epochs + 1)]}
    Store(folder).writable(path).write_bytes(to_bytes(state))
    return path


@pytest.fixture
def run(tmp_path):
    """Section 1.1 at the full profile, part-way: 5 seeds of three experiments finished (4 epochs of 20 s each in
    the fake records), hidden-500 2 seeds, tanh seed 0 stopped at epoch 3 (30 s an epoch)."""
    folder = tmp_path / "run"
    _fake_run(folder, {"1.1/base-nll": 5, "1.1/base-ce": 5, "1.1/adagrad": 5, "1.1/hidden-500": 2})
    _checkpoint(folder, "1.1/tanh", 0, 3)
    return folder


def test_each_run_is_finished_stopped_or_waiting_and_each_claim_counts_its_complete_seeds(run):
    pub = standing(run)
    assert (pub.profile, pub.sections, pub.holder) == ("full", ("1.1",), None)
    state = {(r.experiment, r.seed): r for r in pub.runs}
    assert len(pub.runs) == 40
    assert [pub.count(s) for s in (FINISHED, TRAINING, STOPPED, WAITING)] == [17, 0, 1, 22]
    tanh = state["1.1/tanh", 0]
    assert (tanh.state, tanh.epochs_done, tanh.epochs_total, tanh.steps_done) == (STOPPED, 3, 50, 3 * 1563)
    assert tanh.test_acc == pytest.approx(0.43) and tanh.recent_rate == pytest.approx(30 / 1563)
    assert state["1.1/hidden-500", 1].state == FINISHED and state["1.1/hidden-500", 2].state == WAITING
    assert state["1.1/identity-ce", 0].steps_total == 10          # the identity pair: 10 steps, not 50 epochs
    claims = {c: n for c, n, _ in pub.claims}
    assert claims == {"1.1/nll-beats-cross-entropy": 5, "1.1/nll-beats-adagrad": 5, "1.1/hidden-500-beats-100": 2,
                      "1.1/relu-beats-tanh": 0, "1.1/conv-3x3-not-better": 0, "1.1/cross-entropy-is-nll": 0}
    lines = "\n".join(standing_lines(pub))
    assert "17 finished, 1 stopped mid-run, 22 not started (40 in all)" in lines
    assert "no bnbench session is training in this folder: 23 runs left" in lines and "--bnbench-resume" in lines


def test_a_run_holding_the_folder_shows_its_recent_checkpoints_as_training(run):
    fd, _ = acquire_run_lock(run, "run-x")
    try:
        assert lock_holder(run) == str(os.getpid())
        pub = standing(run)
        assert pub.holder == str(os.getpid()) and pub.count(TRAINING) == 1
        assert f"a bnbench session (pid {os.getpid()}) is training in this folder: about" in standing_lines(pub)[1]
        old = time.time() - 86400                    # a checkpoint a day old is not being written: stopped
        ckpt = next((run / "records" / "1.1_tanh").glob("*.partial.pt"))
        os.utime(ckpt, (old, old))
        assert standing(run).count(TRAINING) == 0
    finally:
        release_run_lock(fd)
    assert lock_holder(run) is None
    fd, first = acquire_run_lock(run, "again", wait_s=0)     # the probes took nothing: the folder is free
    assert first
    release_run_lock(fd)


def test_the_time_left_is_each_runs_steps_at_its_experiments_rate_divided_over_the_runs_training_now():
    def r(exp, state, done, seconds, model="M"):
        return RunState(exp, model, 0, state, 1000, 10, steps_done=done, train_seconds=seconds)

    runs = [r("a", FINISHED, 1000, 100.0),       # a: 0.1 s a step
            r("a", WAITING, 0, 0.0),             # 1000 steps at a's rate: 100 s
            r("b", TRAINING, 500, 100.0),        # b: 0.2 s a step; 500 left: 100 s
            r("c", WAITING, 0, 0.0),             # no rate of its own: model M's median of (0.1, 0.2): 150 s
            r("d", TRAINING, 250, 75.0, "N")]    # 0.3 s a step, 750 left: 225 s
    pub = RunStanding("f", "full", ("1.1",), runs, [], "123", overhead=1.5)
    assert pub.seconds_per_step(runs[3]) == pytest.approx(0.15)
    assert pub.left_seconds() == pytest.approx(1.5 * (100 + 100 + 150 + 225))
    assert pub.parallel == 2
    line = standing_lines(pub)[1]
    assert "about 7.2 min left at 2 runs at once (14.4 min for one process" in line and "x1.50" in line
    assert RunStanding("f", "full", ("1.1",), [r("a", WAITING, 0, 0.0)], [], None, 1.0).left_seconds() is None


def test_the_time_left_runs_at_the_speed_of_the_last_epochs_not_of_the_folders_history():
    """A folder trained for hours on a busy machine that is quiet now: the runs training now say how much faster
    the machine is (their last epochs against their experiment's rate), and every remaining run is scaled by it."""
    def r(exp, state, done, seconds, recent=None):
        return RunState(exp, "M", 0, state, 1000, 10, steps_done=done, train_seconds=seconds, recent_rate=recent)

    history = [r("a", FINISHED, 1000, 400.0), r("b", FINISHED, 1000, 200.0),     # a: 0.4 s a step, b: 0.2
               r("a", WAITING, 0, 0.0), r("b", WAITING, 0, 0.0)]                  # 400 s + 200 s at that speed
    busy = RunStanding("f", "full", ("1.1",), history, [], "1", overhead=1.0)
    assert busy.speed_now() == 1.0 and busy.left_seconds() == pytest.approx(600)
    now = history + [r("a", TRAINING, 500, 200.0, recent=0.2), r("b", TRAINING, 500, 100.0, recent=0.1)]
    quiet = RunStanding("f", "full", ("1.1",), now, [], "1", overhead=1.0)
    assert quiet.speed_now() == pytest.approx(0.5)                              # both at half their history's
    assert quiet.left_seconds() == pytest.approx(0.5 * (400 + 200 + 500 * 0.4 + 500 * 0.2))
    assert "x0.50 for the speed of the last epochs" in standing_lines(quiet)[1]


def test_planned_steps_follow_the_scaled_configuration():
    profile = get_profile("full")
    base = scaled_config(EXPERIMENTS["1.1/base-nll"].config, profile, "1.1", 0)
    assert planned_steps(base) == (FULL_STEPS, 50)
    assert planned_steps(base.replace(max_steps=10)) == (10, 1)
    assert planned_steps(base.replace(train_per_class=100, epochs=3)) == (32 * 3, 3)


def test_a_checkpoint_that_does_not_read_back_is_named_and_left_untouched(run):
    ckpt = _checkpoint(run, "1.1/conv-5x5-3x3", 1, 2)
    ckpt.write_bytes(b"not a checkpoint")
    link = _checkpoint(run, "1.1/tanh", 2, 2)
    link.unlink()
    link.symlink_to(ckpt)                              # a link planted as a checkpoint: not followed
    pub = standing(run)
    bad = {(r.experiment, r.seed): r for r in pub.runs if r.note}
    assert set(bad) == {("1.1/conv-5x5-3x3", 1), ("1.1/tanh", 2)}
    assert all(r.state == WAITING for r in bad.values())
    assert ckpt.read_bytes() == b"not a checkpoint" and link.is_symlink()    # read only: the run decides
    assert any("1.1/conv-5x5-3x3 seed 1: its checkpoint does not read back" in line for line in standing_lines(pub))


def test_other_settings_are_counted_apart_and_several_profiles_need_a_choice(run, capsys):
    exp, quick = EXPERIMENTS["1.1/base-nll"], get_profile("quick")
    config = scaled_config(exp.config, quick, "1.1", 0)
    src = next((run / "records" / "1.1_base-nll").glob("full-seed0-*.json"))
    other = Store(run).record_path(exp.id, "quick", 0, config.hash)
    other.write_bytes(src.read_bytes())
    assert main(["progress", str(run)]) == 2
    assert "several profiles (full, quick): name one with --profile" in capsys.readouterr().err
    assert standing(run, "full").unplanned == 1
    assert main(["progress", str(run), "--profile", "full"]) == 0
    out = capsys.readouterr().out
    assert "17 of 40 runs finished" in out and "1 record file here is of other settings" in out


def test_the_command_prints_the_table_and_names_a_missing_folder(run, tmp_path, capsys):
    assert main(["progress", str(run)]) == 0
    out = capsys.readouterr().out
    assert "1.1/base-nll" in out and "‖ 3/50" in out and "claims, seeds with every run finished" in out
    assert main(["progress", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["progress", str(empty)]) == 2
    assert "no record or checkpoint under records/ yet" in capsys.readouterr().err


def test_a_folder_without_a_summary_says_why_and_what_to_do(run, tmp_path, capsys):
    """compare / summary / report on a run that is still training (or was killed) point at progress and resume;
    an empty folder just asks for a finished run's."""
    assert main(["summary", str(run)]) == 2
    err = capsys.readouterr().err
    assert "no summary.json there" in err and f"bnbench progress {run}" in err and "--bnbench-resume" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["compare", str(empty), str(empty)]) == 2
    err = capsys.readouterr().err
    assert "no summary.json there" in err and "progress" not in err
