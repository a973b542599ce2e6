"""How many timed rounds a group's first pass gets (run/settings.py: Settings.rounds_for), and
which candidates may be timed again where cost can change the pick."""

from __future__ import annotations

import pytest

from pytest_llmselect.candidates import parse_spec
from pytest_llmselect.run.settings import AUTO_ROUNDS, Settings


def settings(**kw) -> Settings:
    cands = (parse_spec("zoo:tiny"), parse_spec("openai:m@http://127.0.0.1:9/v1"))
    return Settings(candidates=cands, alpha=1.0, **kw)


@pytest.mark.parametrize(("kw", "local", "served", "retimable"), [
    ({}, 1, 1, True),                                       # auto: one pass, more later where cost decides
    ({"rounds_follow_decision": False}, AUTO_ROUNDS, 1, False),  # pytest -n: the old default at once
    ({"bench_rounds": 2}, 2, 2, False),                     # an explicit N: N everywhere
    ({"cost_model": "flops"}, 1, 1, False),                 # exact cost: one round is all
])
def test_rounds_of_the_first_pass_and_who_may_be_timed_again(kw, local, served, retimable):
    s = settings(**kw)
    tiny, api = s.candidates
    assert s.rounds_for(tiny.name) == local
    assert s.rounds_for(api.name, served=True) == served
    assert s.retimable(tiny) is retimable
    assert s.retimable(api) is False  # a served model's every request is paid for
