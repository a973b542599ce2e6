from __future__ import annotations

import pytest

from pytest_llmselect.candidates import parse_alpha, parse_candidates, parse_spec
from pytest_llmselect.errors import SpecError


def test_zoo_hub_and_local_specs(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    cands = parse_candidates("zoo:tiny, gpt2 ,Qwen/Qwen2.5-0.5B,./ckpt", base_dir=tmp_path)
    assert [c.kind for c in cands] == ["zoo", "hub", "hub", "local"]
    assert [c.name for c in cands] == ["zoo:tiny", "gpt2", "Qwen/Qwen2.5-0.5B", "./ckpt"]
    assert cands[3].source == str(ckpt.resolve())
    assert all(c.trust_remote_code is False for c in cands)


def test_directory_without_config_is_rejected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError, match="has no config.json"):
        parse_spec("./empty", base_dir=tmp_path)


def test_candidates_file_settings(tmp_path):
    (tmp_path / "c.toml").write_text(
        """
[[candidate]]
spec = "zoo:small"
name = "small-bf16"
dtype = "bfloat16"
device = "cpu"
batch_size = 4
price = { usd_per_hour = 2.5 }

[[candidate]]
spec = "gpt2"
revision = "main"
trust_remote_code = true
price = { usd_per_million_input_tokens = 0.1, usd_per_million_output_tokens = 0.4 }
"""
    )
    a, b = parse_candidates("@c.toml,zoo:tiny", base_dir=tmp_path)[:2]
    assert (a.name, a.dtype, a.device, a.batch_size) == ("small-bf16", "bfloat16", "cpu", 4)
    assert a.price.usd_per_hour == 2.5 and a.price.source == "configured"
    assert b.revision == "main" and b.trust_remote_code is True
    assert b.price.usd_per_million_output_tokens == 0.4


def test_same_model_twice_under_distinct_names(tmp_path):
    (tmp_path / "c.toml").write_text('[[candidate]]\nspec="zoo:tiny"\nname="t2"\n')
    names = [c.name for c in parse_candidates("zoo:tiny,@c.toml", base_dir=tmp_path)]
    assert names == ["zoo:tiny", "t2"]


@pytest.mark.parametrize("value", ["-0.5", "abc", "inf", "nan", None, ""])
def test_bad_alpha(value):
    with pytest.raises(SpecError, match="--llm-alpha"):
        parse_alpha(value)


@pytest.mark.parametrize("value,expected", [("0", 0.0), ("50", 50.0), (2.5, 2.5)])
def test_good_alpha(value, expected):
    assert parse_alpha(value) == expected


def test_empty_list_is_no_candidates():
    assert parse_candidates("") == []
    assert parse_candidates(" ") == []


def test_price_table(tmp_path):
    from pytest_llmselect.candidates import apply_price_table
    from pytest_llmselect.cost import DEFAULT_PRICE

    (tmp_path / "p.toml").write_text(
        '[default]\nusd_per_hour = 2.5\n[candidate."zoo:small"]\n'
        "usd_per_million_input_tokens = 0.1\nusd_per_million_output_tokens = 0.4\n")
    cands = parse_candidates("zoo:tiny,zoo:small")
    out, default = apply_price_table(tmp_path / "p.toml", cands, DEFAULT_PRICE)
    assert default.usd_per_hour == 2.5 and default.source == "configured"
    assert out[0].price is None  # falls back to the table's default at cost time
    assert out[1].price.usd_per_million_output_tokens == 0.4


@pytest.mark.parametrize("content,message", [
    ('[candidate."zoo:nope"]\nusd_per_hour = 1\n', "'zoo:nope' is not a candidate of this run"),
    ("[defaults]\nusd_per_hour = 1\n", "unknown table(s) ['defaults']"),
    ("[default]\nusd_per_hour = -1\n", "must be a non-negative number"),
    ("[default\n", "is not valid TOML"),
])
def test_bad_price_table(tmp_path, content, message):
    from pytest_llmselect.candidates import apply_price_table
    from pytest_llmselect.cost import DEFAULT_PRICE

    (tmp_path / "p.toml").write_text(content)
    with pytest.raises(SpecError) as err:
        apply_price_table(tmp_path / "p.toml", parse_candidates("zoo:tiny"), DEFAULT_PRICE)
    assert message in str(err.value) and "\n" not in str(err.value)
