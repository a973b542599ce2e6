"""Stored runs: numbering, listing, and resolving a --llm-baseline value to a file."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from pytest_llmselect import storage
from pytest_llmselect.errors import DataError, SpecError
from pytest_llmselect.report.jsonio import load_report
from pytest_llmselect.storage import list_runs, resolve_baseline, save_run

from tests.report_samples import sample_report


@pytest.fixture
def report():
    return sample_report(hostile=False)


def test_save_numbers_runs_and_round_trips(tmp_path: Path, report):
    folder = tmp_path / "runs"
    first = save_run(report, folder)
    second = save_run(report, folder, "nightly")
    assert first.name == "0001_run.json" and second.name == "0002_nightly.json"
    loaded = load_report(second)
    assert loaded["saved"] == {"number": 2, "name": "nightly"}
    # Self-describing: the whole report is in the stored run, inputs included.
    assert {k: v for k, v in loaded.items() if k != "saved"} == report
    assert loaded["cases"] and loaded["machine"] and loaded["suite"]["fingerprint"]
    assert list_runs(folder) == [(1, "run", first), (2, "nightly", second)]


def test_next_number_is_max_plus_one_and_other_files_are_ignored(tmp_path: Path, report):
    (tmp_path / "0007_old.json").write_text("{}", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "12_short.json").write_text("{}", encoding="utf-8")  # not a stored-run name
    assert save_run(report, tmp_path, "new").name == "0008_new.json"
    assert [n for n, _, _ in list_runs(tmp_path)] == [7, 8]


def test_a_taken_number_is_skipped(tmp_path: Path, report, monkeypatch):
    save_run(report, tmp_path)
    # Another job saved 0001 after our listing: the exclusive create moves on to 0002.
    monkeypatch.setattr(storage, "list_runs", lambda folder: [])
    assert save_run(report, tmp_path).name == "0002_run.json"


def test_failed_write_leaves_no_file(tmp_path: Path, report):
    bad = {**report, "oops": object()}
    with pytest.raises(TypeError):
        save_run(bad, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] in ([], [".lock"])  # only the lock file may stay


@pytest.mark.parametrize("name", ["", "a/b", "../x", "x.json", "with space", "-dash", "a" * 101])
def test_bad_names_are_spec_errors(tmp_path: Path, report, name):
    with pytest.raises(SpecError, match="--llm-save name must be"):
        save_run(report, tmp_path, name or "\0")


def test_list_runs_of_missing_folder_is_empty(tmp_path: Path):
    assert list_runs(tmp_path / "nope") == []


def test_resolve_by_number_name_latest_and_path(tmp_path: Path, report):
    folder = tmp_path / "runs"
    a = save_run(report, folder, "main")
    b = save_run(report, folder, "pr")
    c = save_run(report, folder, "main")
    assert resolve_baseline("1", folder) == a
    assert resolve_baseline("0002", folder) == b
    assert resolve_baseline("main", folder) == c  # the newest run of that name
    assert resolve_baseline("latest", folder) == c
    assert resolve_baseline(str(b), folder) == b
    assert resolve_baseline("runs/0001_main.json", folder, base_dir=tmp_path) == a


def test_resolve_errors_say_what_exists(tmp_path: Path, report):
    folder = tmp_path / "runs"
    save_run(report, folder, "main")
    with pytest.raises(DataError, match=r"^--llm-baseline 9: no stored run number 9 in .*runs \(stored: 0001 \(main\)\)$"):
        resolve_baseline("9", folder)
    with pytest.raises(DataError, match=r"no such file, and no stored run with that number or name"):
        resolve_baseline("nightly", folder)
    with pytest.raises(DataError, match=r"missing\.json: no such baseline file$"):
        resolve_baseline("missing.json", folder, base_dir=tmp_path)
    with pytest.raises(DataError, match=r"stored: none saved yet"):
        resolve_baseline("latest", tmp_path / "empty")
    with pytest.raises(SpecError, match="--llm-baseline is empty"):
        resolve_baseline("  ", folder)


def test_stored_run_is_strict_json(tmp_path: Path, report):
    path = save_run({**report, "alpha": 1.0}, tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "Infinity" not in text and "NaN" not in text
    data = json.loads(text)
    # Unbounded alpha ranges are null on disk and infinity again once loaded.
    nulls = [r for r in data["overall"]["alpha_ranges"].values() if r and r[1] is None]
    assert nulls and any(r and r[1] == math.inf for r in load_report(path)["overall"]["alpha_ranges"].values())


def _save_at_once(args: tuple[str, str, str]) -> str:
    folder, name, barrier_file = args
    # Every child waits until all have started, so the four saves really overlap.
    Path(barrier_file + f".{name}").touch()
    deadline = time.monotonic() + 30
    while len(list(Path(barrier_file).parent.glob(Path(barrier_file).name + ".*"))) < 4:
        if time.monotonic() > deadline:
            break
    return save_run(sample_report(hostile=False), folder, name).name


def test_four_processes_saving_at_once_get_distinct_numbers(tmp_path: Path):
    import multiprocessing

    folder = tmp_path / "runs"
    names = ["a", "b", "c", "d"]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        saved = pool.map(_save_at_once, [(str(folder), n, str(tmp_path / "go")) for n in names])
    numbers = sorted(int(s[:4]) for s in saved)
    assert numbers == [1, 2, 3, 4], saved
    # Every stored run is whole, and nothing else (no reservation, no temp file) is left as a run.
    assert sorted(p.name for p in folder.glob("*.json")) == sorted(saved)
    for path in folder.glob("*.json"):
        assert load_report(path)["saved"]["name"] in names


def test_a_kill_while_storing_leaves_no_run_behind(tmp_path: Path, report, monkeypatch):
    from pytest_llmselect.report import jsonio

    save_run(report, tmp_path, "good")
    real_replace = jsonio.os.replace

    def killed(*args):  # the process dies between writing the temp file and renaming it
        raise KeyboardInterrupt

    monkeypatch.setattr(jsonio.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        save_run(report, tmp_path, "bad")
    monkeypatch.setattr(jsonio.os, "replace", real_replace)
    assert [name for _, name, _ in list_runs(tmp_path)] == ["good"]
    assert resolve_baseline("latest", tmp_path).name == "0001_good.json"
