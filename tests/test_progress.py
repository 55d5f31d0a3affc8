"""Progress that moves and says what runs: on a terminal, a status rewritten in place on pytest's line and erased
again (pytest's line is left as it was); piped, one plain line per epoch."""
import io
import os
import re
import subprocess
import sys
import textwrap

from bnbench.outputs.progress import TrainingProgress
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
    p = TrainingProgress("1.1/hidden-500 seed 2/3", file=out, tty=True, column=lambda: 31, width=200, clock=clock)
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
    p = TrainingProgress("2.2/vgg-a-bn-lr0.0001 seed 1/5", file=out, tty=True, column=lambda: 60, width=80,
                         clock=clock)
    p.start(1000, epochs=20, batch_size=128)
    clock.t += 1
    p.update(500, 0.5, 10)
    assert max(len(line) for line in render(out.getvalue())) <= 79
    p.stop()
    assert render(out.getvalue()) == [""]


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
    from bnbench.study.catalog import EXPERIMENTS

    def test_train(train_experiment):
        train_experiment(EXPERIMENTS["1.1/hidden-500"])
''')


def _run(tmp_path, tty: bool):
    (tmp_path / "conftest.py").write_text(synthetic_conftest(400, 400))
    (tmp_path / "test_progress_run.py").write_text(BENCH)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--benchmark-disable", "--bnbench-out",
           str(tmp_path / "out"), "--bnbench-epochs", "2", "--bnbench-subset", "40", str(tmp_path)]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "COLUMNS": "80"}
    if tty:   # a pseudo-terminal, as in tmux: `script` runs the command on one
        cmd = ["script", "-qefc", " ".join(cmd), "/dev/null"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_a_piped_run_writes_a_line_per_epoch(tmp_path):
    out = _run(tmp_path, tty=False)
    lines = [line for line in out.splitlines() if line.startswith("bnbench: 1.1/hidden-500 seed 1/1")]
    assert [("epoch 1/2 done" in line, "epoch 2/2 done" in line) for line in lines] == [(True, False), (False, True)]


def test_a_terminal_run_shows_the_count_advancing(tmp_path):
    raw = _run(tmp_path, tty=True)
    steps = [int(s.split("/")[0]) for s in re.findall(r"step (\d+/\d+)", raw)]
    assert len(steps) >= 2 and steps == sorted(steps) and steps[-1] > steps[0], raw[-2000:]
    shown = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in render(raw.replace("\r\n", "\n"))]
    assert not any("step " in line for line in shown), shown       # erased: no status left in the log
    assert shown[0].startswith(".") and shown[0].endswith("[100%]"), shown   # pytest's line as pytest wrote it
