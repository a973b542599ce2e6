"""The README's chat example ("Served models and chat") is the file it names, and does what it says:
on ``zoo:small-chat`` a user turn answers as ``zoo:small`` does on the raw prompt; a model without a
chat template fails each chat case with one ``CapabilityError`` line."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from suitekit import REPO, head_jsonl

EXAMPLE = REPO / "examples" / "test_chat_addition.py"


def served_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Served models and chat")
    return readme[start:readme.index("\n## ", start + 1)]


def test_the_readme_chat_request_is_the_example_file() -> None:
    section = served_section()
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks and blocks[0] in EXAMPLE.read_text(encoding="utf-8")
    assert "python3 -m pytest examples/test_chat_addition.py --llm-candidates=zoo:small-chat,@served.toml" in section


@pytest.mark.slow
def test_chat_example_answers_as_the_raw_prompt_and_needs_a_template(pytester: pytest.Pytester) -> None:
    (pytester.path / "examples").mkdir()
    shutil.copy(EXAMPLE, pytester.path / "examples" / EXAMPLE.name)
    (pytester.path / "suites" / "data").mkdir(parents=True)
    shutil.copy(REPO / "suites" / "test_addition.py", pytester.path / "suites" / "test_addition.py")
    (pytester.path / "suites" / "data" / "addition.jsonl").write_text(head_jsonl("addition.jsonl", 4), encoding="utf-8")
    result = pytester.runpytest_subprocess("examples/test_chat_addition.py", "suites/test_addition.py",
                                           "--llm-candidates=zoo:small-chat,zoo:small", "--llm-report=run.json",
                                           "--llm-run-log=", "-p", "no:cacheprovider")
    # Chat on zoo:small-chat and raw prompts on both pass; chat on zoo:small fails: one cause, so
    # its first case fails with the one line and the three others show as skipped, pointing to it.
    result.assert_outcomes(passed=4 * 3, failed=1, skipped=3)
    # Counted where the failure is reported in full; the short summary repeats the message only
    # as far as the terminal is wide, so counting every line would depend on COLUMNS.
    assert sum(line.startswith("CapabilityError: model 'zoo:small' has no chat template")
               for line in result.outlines) == 1
    result.stdout.fnmatch_lines(["llmselect: warning: zoo:small could not run task chat-addition: CapabilityError: "
                                 "model 'zoo:small' has no chat template* (4 cases errored; shown once, the other 3 "
                                 "as skipped)"])
    report = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    # All four are errored cases, and the report names the cause beside the excluded candidate.
    task = next(t for t in report["tasks"] if t["name"] == "chat-addition")
    row = next(r for r in task["results"] if r["candidate"] == "zoo:small")
    assert row["n_errors"] == 4 and row["n_missing"] == 0
    assert task["selection"]["excluded"]["zoo:small"].startswith(
        "every case errored (4): no output was scored: CapabilityError: model 'zoo:small' has no chat template")
    result.stdout.fnmatch_lines(["WARNING: Could not run: zoo:small on chat-addition: every case errored (4)*"])
    cases = report["cases"]
    outputs = {(c["task"], c["candidate"], c["case_id"]): c.get("output") for c in cases}
    chat = {k[2]: v for k, v in outputs.items() if k[:2] == ("chat-addition", "zoo:small-chat")}
    raw = {k[2]: v for k, v in outputs.items() if k[:2] == ("addition", "zoo:small")}
    assert len(chat) == 4 and chat == raw
