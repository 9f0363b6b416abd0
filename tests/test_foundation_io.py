"""Atomic output: what a killed write left is removed by the job that owns it, and only that."""
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeutil.cli import rule_logging
from pipeutil.io import atomic_path, job_workdir, remove_stale_temporaries, stale_temporaries


def _kill_during_atomic_write(final, tmp_path):
    """Run atomic_path(final) in a child process and kill -9 it half-way, as a kill of the job would."""
    ready = tmp_path / f"{final.name}.ready"
    code = ("import sys, time; from pathlib import Path; from pipeutil.io import atomic_path\n"
            f"with atomic_path({str(final)!r}) as tmp:\n"
            "    tmp.mkdir(); (tmp / 'part').write_text('half')\n"
            f"    Path({str(ready)!r}).touch(); time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code])
    for _ in range(600):
        if ready.exists():
            break
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    left = stale_temporaries(final)
    assert len(left) == 1 and left[0].name.startswith(f".{final.name}.") and (left[0] / final.name / "part").is_file()
    return left[0]


def test_killed_atomic_write_is_cleaned_by_the_next_write_of_that_path(tmp_path):
    """Before: the .<name>.<random>.tmp/ folder of a kill -9 survived every rerun."""
    final = tmp_path / "model"
    left = _kill_during_atomic_write(final, tmp_path)
    other = _kill_during_atomic_write(tmp_path / "model.json", tmp_path)  # another output of the same folder
    with atomic_path(final) as tmp:
        tmp.mkdir()
        (tmp / "ok").write_text("done")
    assert not left.exists() and (final / "ok").read_text() == "done"
    assert other.exists()  # not this path's temporary: untouched (it may be another job's, in flight)


def test_rule_logging_removes_its_outputs_temporaries_first(tmp_path):
    mine, theirs = tmp_path / "stats.json", tmp_path / "stats.npz"
    for path in (mine, theirs):
        (tmp_path / f".{path.name}.abcd_123.tmp").mkdir()
    (tmp_path / ".stats.json.notatemp").mkdir()  # not the atomic_path pattern
    with rule_logging(str(tmp_path / "log.txt"), [str(mine)]):
        assert stale_temporaries(mine) == []
    assert stale_temporaries(theirs) and (tmp_path / ".stats.json.notatemp").is_dir()
    for h in [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]:
        logging.getLogger().removeHandler(h)  # rule_logging configured the root logger for a script
        h.close()
    assert "left by an interrupted run" in (tmp_path / "log.txt").read_text()
    assert remove_stale_temporaries(theirs) and stale_temporaries(theirs) == []


def test_job_workdir_is_emptied_on_entry_and_removed_on_exit(tmp_path):
    (tmp_path / ".work" / "dataset-x").mkdir(parents=True)
    (tmp_path / ".work" / "dataset-x" / "half").write_text("left by a kill")
    with pytest.raises(RuntimeError):
        with job_workdir(tmp_path, "dataset-x") as work:
            assert list(work.iterdir()) == []
            raise RuntimeError
    assert not (tmp_path / ".work" / "dataset-x").exists()
