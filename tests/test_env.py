"""What a record says it was measured with: the command line it names."""
import sys

import pytest

from bnbench.engine import env


@pytest.fixture(autouse=True)
def _own_command():
    env.set_command(())
    yield
    env.set_command(())


def test_a_module_run_reads_as_python_dash_m():
    argv = ["/x/site-packages/pytest/__main__.py", "benchmarks", "-m", "full", "-k", "1.1 and not tanh"]
    assert env.command_line(argv) == "python -m pytest benchmarks -m full -k '1.1 and not tanh'"


def test_a_script_reads_as_its_name():
    assert env.command_line(["/usr/local/bin/pytest", "benchmarks"]) == "pytest benchmarks"
    assert env.command_line(["/usr/local/bin/bnbench"]) == "bnbench"
    assert env.command_line([]) == ""


def test_a_worker_names_the_command_it_was_handed_not_its_own():
    assert env.environment()["command"] == env.command_line(sys.argv)
    env.set_command(["/x/pytest/__main__.py", "benchmarks", "-n", "2"])
    info = env.environment("cpu")
    assert info["command"] == "python -m pytest benchmarks -n 2"
    assert env.command_argv() == ("/x/pytest/__main__.py", "benchmarks", "-n", "2")
    env.set_command(())                       # handed nothing (a Ray task from an older driver): its own again
    assert env.environment()["command"] == env.command_line(sys.argv)
