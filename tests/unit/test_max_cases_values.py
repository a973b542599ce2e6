"""``--llm-max-cases``: which values are a cap, which mean every case, and which are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.errors import SpecError
from pytest_llmselect.run.subset import parse_max_cases


@pytest.mark.parametrize("value", [None, "", "all", " ALL ", "0", 0])
def test_no_cap(value: object) -> None:
    assert parse_max_cases(value) is None


@given(st.integers(min_value=1, max_value=10**9))
def test_a_positive_whole_number_is_the_cap(n: int) -> None:
    assert parse_max_cases(str(n)) == n and parse_max_cases(f" {n} ") == n and parse_max_cases(n) == n


@pytest.mark.parametrize("value", ["-1", "two", "1.5", "1e3", "-0x1"])
def test_anything_else_is_one_line_naming_it(value: str) -> None:
    with pytest.raises(SpecError, match=r"--llm-max-cases must be a positive whole number or 'all', got "):
        parse_max_cases(value)


@given(st.text(max_size=12))
def test_any_text_is_a_cap_none_or_a_spec_error(text: str) -> None:
    try:
        result = parse_max_cases(text)
    except SpecError as exc:
        assert repr(text) in str(exc)
    else:
        assert result is None or (isinstance(result, int) and result >= 1)
