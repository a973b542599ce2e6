from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmselect.errors import SpecError
from pytest_llmselect.memory_budget import MemoryBudget, budget_bytes, evictions, parse_max_memory


@pytest.mark.parametrize("text,expected", [
    ("auto", None), ("", None), (None, None), (" AUTO ", None),
    ("2GB", 2 * 10 ** 9), ("500MB", 500 * 10 **6), ("500mb", 500 * 10 ** 6), ("1GiB", 1 << 30),
    ("1.5 GB", 1_500_000_000), ("123456", 123456), (" 10kB ", 10_000),
])
def test_sizes_and_auto_parse(text: object, expected: int | None) -> None:
    assert parse_max_memory(text) == MemoryBudget(expected)


@pytest.mark.parametrize("text", ["0", "0MB", "-1GB", "lots", "2 GB extra", "1e9", "GB", "nan", "inf"])
def test_bad_sizes_are_one_line_naming_the_value(text: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_max_memory(text)
    message = str(err.value)
    assert "\n" not in message and "--llm-max-memory" in message and repr(text) in message


@given(st.text(max_size=30))
def test_any_text_parses_or_fails_with_one_line(text: str) -> None:
    try:
        budget = parse_max_memory(text)
    except SpecError as exc:
        assert "\n" not in str(exc) and "--llm-max-memory" in str(exc)
        return
    assert budget.limit is None or budget.limit > 0


@given(st.integers(min_value=1, max_value=10 ** 6), st.sampled_from(["", "B", "kB", "MB", "GB", "KiB", "MiB", "GiB"]))
def test_a_number_with_a_unit_round_trips(n: int, unit: str) -> None:
    factor = {"": 1, "B": 1, "kB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "KiB": 1 << 10, "MiB": 1 << 20,
              "GiB": 1 << 30}[unit]
    assert parse_max_memory(f"{n}{unit}").limit == n * factor


def test_auto_is_the_largest_known_footprint_and_a_limit_is_itself() -> None:
    assert budget_bytes(MemoryBudget(None), [10, None, 30, 20]) == 30
    assert budget_bytes(MemoryBudget(None), [None]) is None
    assert budget_bytes(MemoryBudget(5), [10, 30]) == 5


def test_least_recently_used_go_first_and_only_as_many_as_needed() -> None:
    loaded = [("a", 10), ("b", 20), ("c", 30)]   # a least recently used
    assert evictions(loaded, 35, 100) == []            # 60 + 35 fits
    assert evictions(loaded, 45, 100) == ["a"]         # 50 + 45
    assert evictions(loaded, 60, 100) == ["a", "b"]    # 30 + 60
    assert evictions(loaded, 80, 100) == ["a", "b", "c"]
    assert evictions(loaded, 500, 100) == ["a", "b", "c"]  # larger than the budget: loads alone


def test_unknown_footprints_or_budget_load_alone() -> None:
    assert evictions([("a", 10), ("b", None)], 5, 100) == ["a", "b"]
    assert evictions([("a", 10)], None, 100) == ["a"]
    assert evictions([("a", 10)], 5, None) == ["a"]
    assert evictions([], 5, 1) == []


@given(st.lists(st.integers(min_value=0, max_value=100), max_size=8), st.integers(min_value=0, max_value=100),
       st.integers(min_value=1, max_value=300))
def test_after_evicting_the_next_fits_or_nothing_is_left(sizes: list[int], need: int, budget: int) -> None:
    loaded = [(f"m{i}", s) for i, s in enumerate(sizes)]
    out = evictions(loaded, need, budget)
    assert out == [name for name, _ in loaded[:len(out)]]  # a prefix: least recently used first
    kept = sum(s for _, s in loaded[len(out):])
    assert kept + need <= budget or len(out) == len(loaded)
    if out:  # minimal: keeping the last one evicted would not have fitted
        assert kept + loaded[len(out) - 1][1] + need > budget
