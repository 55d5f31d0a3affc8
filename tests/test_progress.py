"""Progress that moves and says what runs: on a terminal, a status rewritten in place on pytest's line and erased
again (pytest's line is left as it was), as wide as the terminal really is, at least once a second; piped or on an
xdist worker, one plain line per epoch; and where the session stands, "run k of n, about T left"."""
import contextlib
import io
import os
import re
import subprocess
import sys
import textwrap
import time
import types

from bnbench.engine import train as train_module
from bnbench.engine.config import TrainConfig
from bnbench.outputs.progress import SessionPlan, TrainingProgress
from test_plugin import synthetic_conftest


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def render(raw: str) -> list[str]:
    """What a terminal shows for ``raw``: backspace moves left, characters overwrite, \\r goes to column 0."""
    lines, line, col = [], [], 0
    for ch in raw:
        if ch == "\n":
            lines.append("".join(line).rstrip())
            line, col = [], 0
        elif ch == "\r":
            col = 0
        elif ch == "\b":
            col = max(0, col - 1)
        else:
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
    lines.append("".join(line).rstrip())
    return lines


def test_on_a_terminal_the_status_advances_in_place_and_is_erased_at_the_end():
    out, clock = io.StringIO(), Clock()
    out.write("benchmarks/test_1_1_mynet.py ..")          # pytest's line, 31 columns used
    p = TrainingProgress("1.1/hidden-500 seed 2/3", file=out, tty=True, column=lambda: 31, width=lambda: 200,
                         clock=clock)
    p.start(100, epochs=2, batch_size=32)
    frames = []
    for step in (10, 20, 60):
        clock.t += 1.0
        p.update(step, 1.5, 1 if step <= 50 else 2)
        frames.append(render(out.getvalue())[-1])
    assert "1.1/hidden-500 seed 2/3 epoch 1/2 step 10/100" in frames[0]
    assert "step 20/100" in frames[1] and "epoch 2/2 step 60/100" in frames[2] and "img/s" in frames[2]
    assert all(f.startswith("benchmarks/test_1_1_mynet.py ..  ") for f in frames)   # pytest's text kept
    p.stop()
    assert render(out.getvalue()) == ["benchmarks/test_1_1_mynet.py .."]             # and nothing else left


def test_the_status_never_wraps_past_the_terminal_width():
    out, clock = io.StringIO(), Clock()
    p = TrainingProgress("2.2/vgg-a-bn-lr0.0001 seed 1/5", file=out, tty=True, column=lambda: 60, width=lambda: 80,
                         clock=clock)
    p.start(1000, epochs=20, batch_size=128)
    clock.t += 1
    p.update(500, 0.5, 10)
    assert max(len(line) for line in render(out.getvalue())) <= 79
    p.stop()
    assert render(out.getvalue()) == [""]


class Terminal:
    """A terminal that pytest's capture holds except inside ``suspend``: asked for its size while held, it answers
    the 80-column fallback (``shutil.get_terminal_size`` on a captured stdout), else its real width."""

    def __init__(self, columns: int):
        self.columns, self.lifted, self.out = columns, False, io.StringIO()

    @contextlib.contextmanager
    def suspend(self):
        self.lifted = True
        try:
            yield
        finally:
            self.lifted = False

    def width(self) -> int:
        return self.columns if self.lifted else 80


def test_the_width_is_read_at_each_draw_from_the_real_terminal():
    term, clock = Terminal(200), Clock()
    term.out.write("benchmarks/test_1_1_mynet.py ..")
    plan = SessionPlan([("1.1/hidden-500 seed 2/3", "MyNet", 3200)], clock=clock)
    p = TrainingProgress("1.1/hidden-500 seed 2/3", suspend=term.suspend, file=term.out, tty=True,
                         column=lambda: 31, width=term.width, clock=clock, plan=plan)
    p.start(100, epochs=2, batch_size=32)
    clock.t += 1.0
    p.update(10, 1.5, 1)
    wide = render(term.out.getvalue())[-1]
    for part in ("epoch 1/2", "step 10/100", "loss 1.5000", "320 img/s", "ETA 0:09", "| run 1 of 1, about 9 s left"):
        assert part in wide, wide                       # all of it: 200 columns, not the fallback's 80
    term.columns = 100                                  # the window is narrowed mid-run
    clock.t += 1.0
    p.update(20, 1.4, 1)
    narrow = render(term.out.getvalue())[-1]
    assert len(narrow) <= 99 and "1.1/hidden-500 seed 2/3 epoch 1/2" in narrow and "ETA 0:08" in narrow, narrow
    assert "img/s" not in narrow and not narrow.endswith(" ")   # details dropped whole, never cut mid-word


def test_on_a_narrow_line_the_details_go_before_what_runs_and_how_long():
    out, clock, pytest_line = io.StringIO(), Clock(), "benchmarks/test_2_1_vgg_a_bn.py ..."
    out.write(pytest_line)
    plan = SessionPlan([(f"2.1/vgg-a seed {k}/3", "VGG_A", 1000) for k in (1, 2, 3)], clock=clock)
    p = TrainingProgress("2.1/vgg-a seed 1/3", file=out, tty=True, column=lambda: len(pytest_line),
                         width=lambda: 120, clock=clock, plan=plan)
    p.start(100, epochs=5, batch_size=10)
    clock.t += 10.0
    p.update(10, 2.0, 1)
    line = render(out.getvalue())[-1]
    assert line == f"{pytest_line}  2.1/vgg-a seed 1/3 epoch 1/5 step 10/100 ETA 1:30 | run 1 of 3, about 5 min left"


def test_the_session_line_counts_runs_and_times_them_from_measured_rates():
    clock = Clock()
    plan = SessionPlan([("a seed 1/2", "MyNet", 1000), ("a seed 2/2", "MyNet", 1000), ("v seed 1/1", "VGG", 500)],
                       clock=clock)
    plan.begin("a seed 1/2")
    assert plan.text() == "run 1 of 3"                         # nothing measured yet: no time is made up
    assert plan.text(left=10.0, rate=0.01) == "run 1 of 3, about 20 s left + 1 run of untimed models"
    clock.t = 25.0
    plan.end(1000)                                             # 25 s for 1000 images, evaluation included
    plan.begin("a seed 2/2")
    assert plan.text() == "run 2 of 3, about 25 s left + 1 run of untimed models"
    clock.t = 50.0
    plan.end(1000)
    plan.begin("v seed 1/1")
    assert plan.text(left=60.0) == "run 3 of 3, about 60 s left"
    plan.end(500)
    plan.begin("a run the count missed")
    assert plan.text(left=5.0) == "run 4"                      # the count was short: never "run 4 of 3"


def test_the_trainer_reports_at_least_every_second_between_divergence_checks(synthetic_data, monkeypatch):
    """20 steps of a second each, fewer than DIVERGENCE_CHECK_EVERY: the count still moves every second, and only
    the check's update reads the loss (a device sync)."""
    ticks = iter(range(10**6))
    monkeypatch.setattr(train_module, "time", types.SimpleNamespace(monotonic=lambda: float(next(ticks)),
                                                                    perf_counter=time.perf_counter))
    updates = []

    class Recorder:
        def start(self, *args, **kwargs): pass
        def update(self, step, loss, epoch): updates.append((step, loss))
        def epoch_end(self, row): pass
        def stop(self): pass

    config = TrainConfig(model="MyNet", epochs=1, batch_size=10, train_per_class=20, test_per_class=2)
    train_module.train(config, synthetic_data(n_train=1000, n_test=300, seed=0), progress=Recorder())
    assert [step for step, _ in updates] == list(range(1, 21))
    assert all(loss is None for _, loss in updates[:-1]) and isinstance(updates[-1][1], float)


def test_redraws_are_rate_limited():
    out, clock = io.StringIO(), Clock()
    p = TrainingProgress("x", file=out, tty=True, clock=clock)
    p.start(1000, epochs=1, batch_size=1)
    clock.t = 1.0
    p.update(1, 1.0, 1)
    size = len(out.getvalue())
    for step in range(2, 50):                            # all within the same quarter second
        p.update(step, 1.0, 1)
    assert len(out.getvalue()) == size


def test_piped_one_line_per_epoch_and_a_heartbeat_for_long_epochs():
    out, clock = io.StringIO(), Clock()
    p = TrainingProgress("1.2/vggnet-default seed 1/5", file=out, tty=False, clock=clock)
    p.start(200, epochs=2, batch_size=32)
    clock.t = 30.0
    p.update(50, 2.0, 1)                                 # 30 s: no line yet
    assert out.getvalue() == ""
    clock.t = 61.0
    p.update(60, 1.9, 1)                                 # a minute without a line: a heartbeat
    clock.t = 100.0
    p.epoch_end({"epoch": 1, "steps": 100, "images_per_s": 1234.0, "test_acc": 0.42})
    p.epoch_end({"epoch": 2, "steps": 100, "test_acc": None})
    p.stop()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and all(line.startswith("bnbench: 1.2/vggnet-default seed 1/5 ") for line in lines)
    assert "(epoch running)" in lines[0] and "epoch 1/2 done" in lines[1] and "test acc 42.0%" in lines[1]
    assert "step 100/200" in lines[1] and "1,234 img/s" in lines[1] and "step 200/200" in lines[2]
    assert "epoch 2/2 done" in lines[2] and "\b" not in out.getvalue()


BENCH = textwrap.dedent('''
    import pytest
    from bnbench.study.catalog import EXPERIMENTS

    @pytest.mark.parametrize("experiment", [EXPERIMENTS["1.1/hidden-500"], EXPERIMENTS["1.1/tanh"]], ids=str)
    def test_train(experiment, train_experiment):
        train_experiment(experiment)
''')


def _run(tmp_path, *args, tty: bool = False, columns: int = 80):
    """pytest on two synthetic runs; on a pseudo-terminal of ``columns`` columns (as in tmux: `script` runs the
    command on one, COLUMNS unset), else piped. Returns stdout and stderr."""
    (tmp_path / "conftest.py").write_text(synthetic_conftest(400, 400))
    (tmp_path / "test_progress_run.py").write_text(BENCH)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--benchmark-disable", "--bnbench-out",
           str(tmp_path / "out"), "--bnbench-epochs", "2", "--bnbench-subset", "40", *args, str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    if tty:
        cmd = ["script", "-qefc", f"stty cols {columns} rows 50; " + " ".join(cmd), "/dev/null"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, proc.stderr


def test_a_piped_run_writes_a_line_per_epoch_and_where_the_session_stands(tmp_path):
    out, _ = _run(tmp_path, "-q")
    lines = [line for line in out.splitlines() if line.startswith("bnbench: 1.1/")]
    assert [(line.split(" seed")[0], line.split(" done")[0][-9:]) for line in lines] == [
        ("bnbench: 1.1/hidden-500", "epoch 1/2"), ("bnbench: 1.1/hidden-500", "epoch 2/2"),
        ("bnbench: 1.1/tanh", "epoch 1/2"), ("bnbench: 1.1/tanh", "epoch 2/2")], out
    assert all("| run 1 of 2, about " in line for line in lines[:2]), lines
    assert all("| run 2 of 2, about " in line for line in lines[2:]), lines


def test_a_terminal_run_uses_the_terminals_width_and_erases_its_status(tmp_path):
    """200 columns: the whole status shows (read while pytest's capture held stdout, the width was the 80-column
    fallback and the status was cut after the loss)."""
    raw, _ = _run(tmp_path, tty=True, columns=200)
    steps = [int(s.split("/")[0]) for s in re.findall(r"step (\d+)/\d+ ", raw)]
    assert len(steps) >= 2 and steps[-1] > steps[0], raw[-2000:]
    frames = re.split("\b+", raw)
    assert any(all(part in frame for part in ("epoch 1/2 step", " loss ", " img/s ETA ", "| run 1 of 2"))
               for frame in frames), raw[-2000:]
    shown = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in render(raw.replace("\r\n", "\n"))]
    assert not any("step " in line for line in shown), shown       # erased: no status left in the log
    line = next(line for line in shown if line.startswith("test_progress_run.py "))
    assert line.endswith("[100%]") and len(line) == 199, shown     # pytest's line as pytest wrote it


def test_under_xdist_each_worker_writes_a_line_per_epoch(tmp_path):
    """An xdist worker's stdout is /dev/null: its lines go to the stderr it shares with the controller."""
    _, err = _run(tmp_path, "-q", "-n", "2")
    tagged = [re.match(r"bnbench: \[(gw\d)\] (.*?) done", line) for line in err.splitlines()
              if line.startswith("bnbench: [gw") and " done " in line]
    # which worker drew which run is xdist's choice: compare the runs, and that one worker did each run
    assert sorted(m.group(2) for m in tagged) == [
        f"1.1/{name} seed 1/1 epoch {e}/2" for name in ("hidden-500", "tanh") for e in (1, 2)], err
    assert all(len({m.group(1) for m in tagged if m.group(2).startswith(f"1.1/{name} ")}) == 1
               for name in ("hidden-500", "tanh")), err
    cores = len(os.sched_getaffinity(0))     # each worker gets cores // 2 threads, and gw0 says so
    assert f"bnbench: [gw0] training on cpu (" in err and f"2 processes x {max(1, cores // 2)} thread" in err, err
