"""What the README shows exists and works: the example suite, the importable names, the zoo table."""

from __future__ import annotations

import re
import shutil
from importlib import metadata

import pytest

from suitekit import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def test_the_example_suite_in_the_readme_is_the_file_in_the_repository() -> None:
    blocks = re.findall(r"```python\n(.*?)```", section("Write a task suite"), flags=re.S)
    assert blocks, "no python block in 'Write a task suite'"
    assert blocks[0] == (REPO / "examples" / "test_capitals.py").read_text(encoding="utf-8")
    assert "`examples/test_capitals.py` with `examples/data/capitals.jsonl`" in section("Write a task suite")


def test_every_name_the_readme_imports_is_importable() -> None:
    import pytest_llmselect

    names: set[str] = set()
    # A name list may wrap after a comma (prose), never after a name (code).
    for match in re.finditer(r"from pytest_llmselect import (\w+(?:\s*,\s*\w+)*)", README):
        names |= {n.strip() for n in match.group(1).split(",") if n.strip()}
    assert {"GenerateRequest", "case_ids", "exact_match", "load_jsonl", "choice_accuracy"} <= names
    missing = [n for n in sorted(names) if not hasattr(pytest_llmselect, n)]
    assert not missing, f"README imports names the package lacks: {missing}"
    # Every metric the README names as built in is importable under that name too.
    for metric in ("exact_match", "token_f1", "contains", "choice_accuracy"):
        assert f"`{metric}`" in README
        assert callable(getattr(pytest_llmselect, metric))


@pytest.mark.slow
def test_the_example_suite_runs(pytester: pytest.Pytester) -> None:
    shutil.copytree(REPO / "examples", pytester.path / "examples")
    result = pytester.runpytest_subprocess("examples/test_capitals.py", "--llm-candidates=zoo:tiny",
                                           "--llm-report=run.json", "--llm-run-log=")
    # Eight cases recorded; a character-level model knows no capitals, so the declared
    # min_quality check fails, with the quality and its interval.
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines(["*llm_min_quality[[]capitals-zoo:tiny[]]*",
                                 "capitals: zoo:tiny quality * is below the minimum 0.8 *"])
    assert (pytester.path / "run.json").is_file()


def _versions_in_readme() -> dict[str, str]:
    found = re.search(r"with torch ([\d.]+) and transformers ([\d.]+)", section("Models"))
    assert found, "the README must say which torch and transformers versions its zoo table comes from"
    return {"torch": found.group(1), "transformers": found.group(2)}


@pytest.mark.slow
def test_the_zoo_table_is_what_the_code_prints() -> None:
    from pytest_llmselect.zoo import ZOO_NAMES
    from pytest_llmselect.zoo.__main__ import table

    stated = _versions_in_readme()
    installed = {dist: metadata.version(dist).split("+")[0] for dist in stated}
    if installed != stated:
        pytest.skip(f"the README's table is for {stated}; installed {installed} may train other weights")
    from pytest_llmselect.zoo.build import build_many

    build_many(ZOO_NAMES)
    expected = table(list(ZOO_NAMES))
    assert "\n".join(expected) in section("Models"), (
        "README zoo table differs from `python -m pytest_llmselect zoo --markdown`:\n" + "\n".join(expected))


STRUCTURED_SUITE = '''
import pytest

CASES = [{"id": "a", "answer": "Paris"}, {"id": "b", "answer": "Rome"}]

@pytest.mark.llm_task("structured", metric="exact_match")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_structured(llm, llm_record, case):
    if case["id"] == "a":
        llm_record(1.0, output="Paris", expected=case["answer"], tokens=[1, 2], meta={"k": None})
    else:
        llm_record(0.0, output="?", handle=object())
'''


@pytest.mark.slow
def test_structured_per_case_data_lands_in_the_report_and_non_json_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_structured=STRUCTURED_SUITE)
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-report=run.json", "--llm-run-log=")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*llm_record(handle=...) must be JSON data*got <object object at *> of type object*"])
    import json

    cases = json.loads((pytester.path / "run.json").read_text())["cases"]
    recorded = [c for c in cases if c["case_id"] == "a"]
    assert recorded and recorded[0]["extra"] == {"expected": "Paris", "tokens": [1, 2], "meta": {"k": None}}
