"""What a run shows while it works (header, builds, loads, groups; -q), the run log's
lifecycle events, and everyday pytest habits: --lf after a failed check, no empty
.benchmarks/ folder left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


LIFECYCLE = ("build_start", "build_end", "load_start", "load_end", "group_start", "group_end")


def events(path: Path, kinds: tuple[str, ...] = LIFECYCLE) -> list[dict]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [line for line in lines if line.get("event") in kinds]


def test_progress_lines_run_log_events_and_lf_after_a_failed_minimum(suite):
    pt = suite(n_addition=4, n_largest=3, addition_extra=", min_quality=0.99")
    result = pt.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-run-log=log.jsonl")
    # zoo:tiny is far below 0.99 on addition: the cases pass (they record), the check fails.
    result.assert_outcomes(passed=4 + 3, failed=1)
    result.stdout.fnmatch_lines([
        "llmselect: 1 candidate (zoo:tiny); device *, dtype *; model cache *",
        "llmselect: loading zoo:tiny",
        "llmselect: addition · zoo:tiny: 4 requests in 1 batch, *s of model time",
    ])
    result.stdout.fnmatch_lines(["llmselect: largest · zoo:tiny: * requests in 1 batch, *"])
    assert sum("llmselect: 1 candidate" in line for line in result.outlines) == 1

    log = events(pt.path / "log.jsonl")
    kinds = [e["event"] for e in log]
    assert kinds[:2] == ["load_start", "load_end"]
    assert kinds.count("group_start") == kinds.count("group_end") == 2
    assert all(isinstance(e["time"], float) for e in log)
    assert [e["time"] for e in log] == sorted(e["time"] for e in log)
    ends = {e["task"]: e for e in log if e["event"] == "group_end"}
    assert ends["addition"]["requests"] == 4 and ends["largest"]["requests"] == 3 * 4  # four choices each
    assert all(e["seconds"] >= 0 for e in log if e["event"].endswith("_end"))
    assert len(events(pt.path / "log.jsonl", ("case",))) == 7
    assert len({e["run_id"] for e in events(pt.path / "log.jsonl", ("case", *LIFECYCLE))}) == 1

    # A run that saved no benchmark leaves no empty .benchmarks/ behind.
    assert not (pt.path / ".benchmarks").exists()

    # --lf re-runs the failed check together with the cases it measures, not the other task;
    # -q keeps the header and drops the other progress lines.
    again = pt.runpytest_subprocess("--llm-candidates=zoo:tiny", "--lf", "-q", "--llm-run-log=")
    again.assert_outcomes(passed=4, failed=1, deselected=3)
    again.stdout.fnmatch_lines(["llmselect: 1 candidate (zoo:tiny)*", "*llm_min_quality*addition-zoo:tiny*"])
    assert not any("loading zoo:tiny" in line for line in again.outlines)


def test_first_run_builds_missing_models_side_by_side(suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # An empty model cache: both models are trained, in worker processes, before the first load.
    monkeypatch.setenv("LLMSELECT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LLMSELECT_ZOO_JOBS", "2")  # side by side whatever the core count
    pt = suite(n_addition=2, n_largest=2)
    result = pt.runpytest_subprocess("--llm-candidates=zoo:tiny,zoo:wide", "--llm-run-log=log.jsonl",
                                     "test_largest.py")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["llmselect: 2 candidates*",
                                 "llmselect: training 2 reference model(s) once*zoo:tiny*zoo:wide*"])
    result.stdout.fnmatch_lines(["llmselect: built zoo:* in *s"])
    result.stdout.fnmatch_lines(["llmselect: loading zoo:tiny"])
    log = events(pt.path / "log.jsonl")
    starts = {e["model"]: e for e in log if e["event"] == "build_start"}
    ends = {e["model"]: e for e in log if e["event"] == "build_end"}
    assert set(starts) == set(ends) == {"zoo:tiny", "zoo:wide"}
    # Side by side: the second build started before the first one ended.
    assert max(e["time"] for e in starts.values()) < min(e["time"] for e in ends.values())
    first_load = next(e for e in log if e["event"] == "load_start")
    assert first_load["time"] >= max(e["time"] for e in ends.values())

    # The saved generation config carries token ids only: no length or sampling defaults
    # that would override another tool's own limits when it loads the model.
    for built in (tmp_path / "cache" / "zoo").iterdir():
        if built.is_dir() and not built.name.startswith("."):
            config = json.loads((built / "generation_config.json").read_text())
            assert set(config) <= {"bos_token_id", "eos_token_id", "pad_token_id", "transformers_version",
                                   "_from_model_config"}, config
    assert os.listdir(tmp_path / "cache" / "zoo")


SPY_STATUS = '''
import json
import pytest
from pytest_llmselect import plugin

SEEN = []

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    progress = config.stash[plugin.SESSION_KEY].progress
    real = progress.status
    def status(key, text):
        SEEN.append(text)
        return real(key, text)
    progress.status = status

def pytest_unconfigure(config):
    with open("status.json", "w") as out:
        json.dump(SEEN, out)
'''


def test_progress_names_the_timed_round(suite):
    """Found by a new-user trial: each timed round restarted the batch count, so progress lines
    seemed to go backwards ('batch 3/4, 00:12 elapsed' then 'batch 1/4, 00:04 elapsed')."""
    pt = suite(n_addition=4, n_largest=3)
    pt.makeconftest(SPY_STATUS)
    pt.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-benchmark-rounds=3", "--llm-batch-size=2",
                            "--llm-run-log=", "-p", "no:cacheprovider").assert_outcomes(passed=7)
    seen = json.loads((pt.path / "status.json").read_text(encoding="utf-8"))
    addition = [text for text in seen if text.startswith("addition · zoo:tiny")]
    for k in (1, 2, 3):
        assert any(text.startswith(f"addition · zoo:tiny, round {k}/3: batch ") for text in addition), addition
    assert all(", round " in text for text in addition)
