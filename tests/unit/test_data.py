from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    ('{"id": "a"}\n{"id": " "}\n', "d.jsonl:2: empty case id ' ': give the case a name"),
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


def test_unicode_line_separators_inside_strings_are_data(tmp_path):
    """Issue 15: JSON strings may hold U+2028, U+2029 and U+0085 raw; lines end at \\n only."""
    path = tmp_path / "cases.jsonl"
    texts = ["a\u2028b", "c\u0085d", "e\u2029f"]
    path.write_text("\n".join(f'{{"id": "{i}", "prompt": "{t}"}}' for i, t in enumerate(texts)) + "\r\n",
                    encoding="utf-8")
    assert [c["prompt"] for c in load_jsonl(path)] == texts


@pytest.mark.parametrize(("line", "needle"), [
    ('{"id": ' + "9" * 5000 + "}", "cases.jsonl:1: a number too large to read"),
    ("[" * 50_000 + "]" * 50_000, "cases.jsonl:1: nested too deeply"),
])
def test_huge_numbers_and_deep_nesting_are_one_line(tmp_path, line, needle):
    path = tmp_path / "cases.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_jsonl(path)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_a_byte_order_mark_is_ignored(tmp_path):
    """Found by a new-user trial: a file saved with a UTF-8 BOM was refused, and the message
    told the user to decode with utf-8-sig, which they cannot do."""
    p = tmp_path / "d.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + '{"id": "a", "prompt": "\u00e9"}\n'.encode("utf-8"))
    assert load_jsonl(p, required=("id", "prompt")) == [{"id": "a", "prompt": "\u00e9"}]


def test_case_ids_of_cases_without_an_id_is_one_data_error():
    with pytest.raises(DataError, match=r"case_ids: case 1 has no \"id\" key \(it has 'prompt'\)") as err:
        case_ids([{"id": "a"}, {"prompt": "x"}])
    assert "\n" not in str(err.value)


_LINES = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b'{"id": "a"}', b'{"id": "b", "x": 1}', b"# note", b"", b"\xef\xbb\xbf", b'{"id": ""}',
                     b"[1]", b'{"id": "a"', b"1e999999", b'{"x": 1}', b"\xff\xfe"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_LINES, max_size=6))
def test_any_bytes_load_as_cases_or_one_data_error_line(tmp_path, lines):
    p = tmp_path / "fuzz.jsonl"
    p.write_bytes(b"\n".join(lines))
    try:
        cases = load_jsonl(p)
    except DataError as exc:
        assert str(exc).startswith(str(p)) and "\n" not in str(exc)
    else:
        assert cases and all(isinstance(c, dict) and str(c["id"]).strip() for c in cases)
        assert case_ids(cases) == [str(c["id"]) for c in cases]
