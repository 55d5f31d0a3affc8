"""Results that last: interrupted runs keep what finished, and no kill leaves a half-written JSON."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from bnbench.store import load_record
from factories import sigint_default
from test_plugin import synthetic_conftest

BENCH = textwrap.dedent('''
    import pytest
    from bnbench.study.catalog import experiments_in

    @pytest.mark.parametrize("experiment", experiments_in("1.1"), ids=str)
    def test_train(experiment, train_experiment):
        train_experiment(experiment)
''')


def test_sigint_midway_keeps_finished_records_and_marks_the_summary_partial(tmp_path):
    (tmp_path / "conftest.py").write_text(synthetic_conftest(2000, 2000))
    (tmp_path / "test_long.py").write_text(BENCH)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--benchmark-disable",
                             "--bnbench-out", str(out), "--bnbench-epochs", "3", "--bnbench-subset", "200",
                             str(tmp_path)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
                            preexec_fn=sigint_default)
    deadline = time.monotonic() + 600               # a bound for a hung run only: a loaded machine is slow, not wrong
    try:
        while len(list((out / "records").rglob("*.json"))) < 2:
            assert proc.poll() is None, "the run ended before two records existed"
            assert time.monotonic() < deadline, "no two records within 600 s"
            time.sleep(0.05)
    except BaseException:
        proc.kill()                                 # never leave a training process behind a failed test
        proc.communicate()
        raise
    proc.send_signal(signal.SIGINT)                 # Ctrl-C, in the middle of the next training run
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, output             # pytest: interrupted
    records = list((out / "records").rglob("*.json"))
    assert 2 <= len(records) < 6, output
    for path in records:                            # every finished record is whole and valid
        rec = load_record(path)
        assert rec.finished_at and len(rec.epochs) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partial"] is True


WRITER = textwrap.dedent('''
    import sys
    from pathlib import Path
    from bnbench.store.files import write_json_atomic
    path = Path(sys.argv[1])
    big = {"step_loss": [i * 0.001 for i in range(200_000)]}
    i = 0
    while True:
        big["i"] = i
        write_json_atomic(path, big)
        i += 1
''')


def test_sigkill_during_writes_never_leaves_a_half_written_json(tmp_path):
    """The writer rewrites one file in a loop; each kill lands while it writes (after its first write finished, so
    the file exists and every later moment is inside a rewrite), at a different point of the write each time."""
    target = tmp_path / "record.json"
    for delay in (0.0, 0.07, 0.15, 0.3):
        target.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
        deadline = time.monotonic() + 300           # started and written once: on a loaded machine this is slow
        while not target.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the writer never wrote"
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = json.loads(target.read_text())       # the old whole file or the new whole file, never a part
        assert len(data["step_loss"]) == 200_000
