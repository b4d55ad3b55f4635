"""A report folder is replaced whole: killed at any instant, a reproduce or merge leaves the
old report or the new one, each complete, with the files that are not the report's own (a
README, a run's settings, a screenshot) kept, and never the figures of one run beside the
results of another."""

import random
import signal
import subprocess
import sys
import time

import pytest

from neuron_repro import folders
from neuron_repro.claims import REGISTRY, SOURCES
from neuron_repro.cli import main
from neuron_repro.folders import recover, replace_folder, staged_folder, staging_path
from neuron_repro.merge import merge_reports
from neuron_repro.paths import REPO_ROOT
from neuron_repro.results import read_report, report_files
from tests.test_merge import _report, _results

OWN = {"README.md": b"how this report was made\n", "run.toml": b"[run]\n",
       "notes/screenshot.png": b"a screenshot, not a figure of any row"}


def _snapshot(folder) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}


def _old_report(folder):
    """A report of another run whose row shows ``old_only.png``, beside files of its own."""
    _report(folder, _results(figure="old_only.png"), figures=("old_only.png",))
    for name, data in OWN.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return _snapshot(folder)


def _complete(folder) -> bool:
    """Whether ``folder`` holds one whole report: every file it names is there, and every
    other file is one of its own."""
    report = report_files(folder)
    files = set(_snapshot(folder))
    figures = {f for f in report if f.endswith(".png")}
    return figures <= files and files <= report | set(OWN)


def _leftovers(folder) -> list:
    return [p.name for p in folder.parent.iterdir()
            if p.name.startswith(f".{folder.name}.") and not p.name.endswith(".lock")]


@pytest.mark.parametrize("atomic", [True, False])
def test_a_folder_is_replaced_by_one_exchange_or_two_renames(tmp_path, atomic):
    target, new = tmp_path / "report", tmp_path / ".report.new-1"
    for folder, text in ((target, "old"), (new, "new")):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "a.txt").write_text(text)
    exchange = folders._exchange if atomic else (lambda a, b: False)
    replace_folder(new, target, exchange=exchange)
    assert (target / "sub" / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_a_swap_stopped_between_its_renames_is_undone_by_the_next_writer(tmp_path):
    target = tmp_path / "report"
    old = _old_report(target)
    staging_path(target).mkdir()
    (staging_path(target) / "results.json").write_text("{}")  # the new one, half written
    target.rename(tmp_path / ".report.old")  # the first of the two renames, then the kill
    recover(target)
    assert _snapshot(target) == old and _leftovers(target) == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_block_that_fails_leaves_the_folder_as_it_was(tmp_path, error):
    target = tmp_path / "report"
    old = _old_report(target)
    with pytest.raises(error), staged_folder(target, "--out", "reproduce") as staged:
        (staged.path / "results.json").write_text("{}")
        (staged.path / "new.png").write_bytes(b"drawn")
        raise error()
    assert _snapshot(target) == old and _leftovers(target) == []


def test_a_folder_that_holds_the_current_one_is_refused(tmp_path, monkeypatch, capsys):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    for out in (".", ".."):
        assert main(["reproduce", "--profile", "fixtures", "--out", out, "--quiet",
                     "--only", "sst.one_dominant"]) == 2
        assert "current folder" in capsys.readouterr().err
    assert list((tmp_path / "here").iterdir()) == []


def test_reproduce_replaces_the_old_report_and_keeps_the_folders_own_files(tmp_path):
    target = tmp_path / "report"
    _old_report(target)
    assert main(["reproduce", "--profile", "fixtures", "--out", str(target), "--quiet",
                 "--only", "sst.one_dominant"]) == 0
    assert not (target / "old_only.png").exists()  # the old row's figure went with its row
    assert not (target / "control").exists()
    for name, data in OWN.items():
        assert (target / name).read_bytes() == data
    assert [r["id"] for r in read_report(target)["claims"]] == ["radford2017.sst.one_dominant_unit"]
    assert _complete(target) and _leftovers(target) == []


def test_a_merge_keeps_the_kept_rows_figures_and_drops_only_the_replaced_ones(tmp_path):
    into = tmp_path / "full"
    _old_report(into)
    rerun = _results(61.0, figure="new.png")
    rerun[0].control = None
    src = _report(tmp_path / "rerun", rerun, figures=("new.png",))
    merge_reports(into, src, ["label_efficiency"], REGISTRY, SOURCES)
    assert (into / "new.png").read_bytes() == b"rerun:new.png"
    assert not (into / "old_only.png").exists() and not (into / "control").exists()
    assert all((into / name).read_bytes() == data for name, data in OWN.items())
    assert _complete(into)


def test_a_merge_interrupted_after_copying_the_figures_leaves_the_target_as_it_was(
        tmp_path, monkeypatch):
    import neuron_repro.report as report

    into = tmp_path / "full"
    old = _old_report(into)
    src = _report(tmp_path / "rerun", _results(61.0, figure="new.png"), figures=("new.png",))

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "write_rendered", interrupted)
    with pytest.raises(KeyboardInterrupt):
        merge_reports(into, src, ["label_efficiency"], REGISTRY, SOURCES)
    assert _snapshot(into) == old and _leftovers(into) == []


def _cli(*argv) -> list[str]:
    return [sys.executable, "-m", "neuron_repro.cli", *[str(a) for a in argv]]


def test_a_reproduce_killed_at_random_instants_leaves_the_old_report_or_the_new(tmp_path):
    """SIGKILL or SIGINT at instants spread over a whole run: each time the folder holds the
    old report, untouched, or the new one, complete; a run to the end then gives the new."""
    target = tmp_path / "report"
    old = _old_report(target)

    def command(out):
        return _cli("reproduce", "--profile", "fixtures", "--out", out, "--quiet", "--only",
                    "yelp", "--cache-dir", tmp_path / "cache")

    started = time.monotonic()
    subprocess.run(command(tmp_path / "timing"), check=True, capture_output=True, cwd=REPO_ROOT)
    whole = time.monotonic() - started
    rng = random.Random(0)
    outcomes = []
    for trial in range(6):
        interrupt = trial % 3 == 2
        process = subprocess.Popen(command(target), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, cwd=REPO_ROOT)
        time.sleep(rng.uniform(0.2, 1.1) * whole)
        process.send_signal(signal.SIGINT if interrupt else signal.SIGKILL)
        process.wait()
        now = _snapshot(target)
        if now == old:
            outcomes.append("old")
        else:
            assert _complete(target), sorted(now)
            assert all(now[name] == data for name, data in OWN.items())
            outcomes.append("new")
            old = now  # the next trial replaces this one
        if interrupt:  # an interrupted run removes the folder it was building
            assert f".report.new-{process.pid}" not in _leftovers(target), outcomes
    # a run to the end, after whatever a kill left beside the folder
    subprocess.run(command(target), check=True, capture_output=True, cwd=REPO_ROOT)
    assert _complete(target) and _leftovers(target) == []
    rows = read_report(target)["claims"]
    assert all(r["id"].startswith("chada2017.yelp") for r in rows), outcomes
