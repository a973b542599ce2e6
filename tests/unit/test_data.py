from __future__ import annotations

import pytest

from pytest_llmselect import DataError, case_ids, load_jsonl


def test_loads_cases_skipping_blanks_and_comments(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"id": "a", "prompt": "x"}\n\n# a comment\n{"id": 2, "prompt": "y"}\n')
    cases = load_jsonl(p, required=("id", "prompt"))
    assert [c["prompt"] for c in cases] == ["x", "y"]
    assert case_ids(cases) == ["a", "2"]


@pytest.mark.parametrize("text,needle", [
    ('{"id": "a"}\n{"id": "b",\n', "d.jsonl:2: invalid JSON"),
    ('{"id": "a"}\n[1, 2]\n', "d.jsonl:2: expected a JSON object, got list"),
    ('{"id": "a"}\n{"prompt": "x"}\n', "d.jsonl:2: missing required key(s) 'id'"),
    ('{"id": "a"}\n{"id": "a"}\n', "d.jsonl:2: duplicate case id 'a' (first on line 1)"),
    ("\n\n", "d.jsonl: no cases in file"),
])
def test_malformed_line_names_file_and_line(tmp_path, text, needle):
    p = tmp_path / "d.jsonl"
    p.write_text(text)
    with pytest.raises(DataError) as err:
        load_jsonl(p)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="data file not found"):
        load_jsonl(tmp_path / "nope.jsonl")


def test_suite_data_files_load():
    from pathlib import Path

    data = Path(__file__).resolve().parents[2] / "suites" / "data"
    assert len(load_jsonl(data / "addition.jsonl", required=("id", "prompt", "answer"))) == 200
    largest = load_jsonl(data / "largest.jsonl", required=("id", "context", "choices", "answer"))
    assert all(0 <= c["answer"] < len(c["choices"]) for c in largest)
