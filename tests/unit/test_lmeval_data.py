"""A task's documents from local files only: data_files in four formats, a Hub id mapped to a
file, and no connection ever attempted."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

pytest.importorskip("datasets")

from pytest_llmselect.lmeval.build import build_cases  # noqa: E402
from pytest_llmselect.lmeval.config import load_task  # noqa: E402
from pytest_llmselect.lmeval.docs import OFFLINE_ENV, DataKey, offline, parse_mapping  # noqa: E402
from pytest_llmselect.lmeval.yamlfile import LmevalError  # noqa: E402

DOCS = [{"q": f"{a}+{b}", "a": str(a + b)} for a, b in ((1, 2), (30, 4), (5, 66))]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a network connection was attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def write_docs(path: Path) -> Path:
    import pandas as pd

    frame = pd.DataFrame(DOCS)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path)
    elif path.suffix == ".json":
        path.write_text(json.dumps(DOCS), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    return path


TASK = """task: t
dataset_path: {builder}
dataset_kwargs:
  data_files:
    test: data/docs{suffix}
test_split: test
doc_to_text: "{{{{q}}}}="
doc_to_target: a
target_delimiter: ""
"""


@pytest.mark.parametrize("builder, suffix", [("json", ".jsonl"), ("json", ".json"), ("csv", ".csv"),
                                             ("parquet", ".parquet")])
def test_data_files_in_every_format_give_the_same_cases(tmp_path: Path, builder: str, suffix: str,
                                                        no_network: None) -> None:
    (tmp_path / "data").mkdir()
    write_docs(tmp_path / "data" / f"docs{suffix}")
    path = tmp_path / "t.yaml"
    path.write_text(TASK.format(builder=builder, suffix=suffix), encoding="utf-8")
    cases = build_cases(load_task(path))
    assert [c.requests[0].prompt for c in cases] == ["1+2=", "30+4=", "5+66="]
    assert [str(c.gold) for c in cases] == ["3", "34", "71"]  # csv: integers, as datasets reads them for lm-eval too


HUB_TASK = """task: hub
dataset_path: someorg/sums
dataset_name: small
test_split: test
training_split: train
num_fewshot: 1
doc_to_text: "{{q}}="
doc_to_target: a
"""


def test_a_hub_dataset_mapped_to_local_files(tmp_path: Path, no_network: None) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(HUB_TASK, encoding="utf-8")
    test = write_docs(tmp_path / "test.jsonl")
    train = write_docs(tmp_path / "train.parquet")
    mapping = parse_mapping([f"someorg/sums small test = {test.name}", f"someorg/sums small train={train}"],
                            tmp_path, "llm_lmeval_data")
    assert mapping == {DataKey("someorg/sums", "small", "test"): test, DataKey("someorg/sums", "small", "train"): train}
    cases = build_cases(load_task(path), mapping)
    assert len(cases) == 3 and all(c.requests[0].prompt.count("=") == 2 for c in cases)  # one demonstration each


def test_an_unmapped_hub_dataset_is_one_line_and_no_connection(tmp_path: Path, no_network: None) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(HUB_TASK, encoding="utf-8")
    with pytest.raises(LmevalError) as info:
        build_cases(load_task(path))
    assert "dataset 'someorg/sums small test' is not available offline" in str(info.value)
    assert "--llm-lmeval-data 'someorg/sums small test = FILE'" in str(info.value)


@pytest.mark.parametrize("entry", ["someorg/sums = x.jsonl", "a b c d = x", "someorg/sums test x.jsonl",
                                   "someorg/sums test ="])
def test_a_malformed_mapping_names_the_entry(entry: str) -> None:
    with pytest.raises(LmevalError, match="is not 'DATASET \\[CONFIG\\] SPLIT = FILE'"):
        parse_mapping([entry], Path("."), "llm_lmeval_data")


def test_a_missing_or_malformed_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TASK.format(builder="json", suffix=".jsonl"), encoding="utf-8")
    with pytest.raises(LmevalError, match=r"data file .*docs.jsonl not found"):
        build_cases(load_task(path))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "docs.jsonl").write_text('{"q": "1"\n', encoding="utf-8")
    with pytest.raises(LmevalError, match=r"cannot read .*docs.jsonl") as info:
        build_cases(load_task(path))
    assert "\n" not in str(info.value)


def test_offline_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    import datasets.config

    before = datasets.config.HF_HUB_OFFLINE
    with offline():
        assert all(os.environ[k] == "1" for k in OFFLINE_ENV)
        assert datasets.config.HF_HUB_OFFLINE is True
    assert os.environ["HF_HUB_OFFLINE"] == "0" and "HF_DATASETS_OFFLINE" not in os.environ
    assert datasets.config.HF_HUB_OFFLINE == before


def test_demonstrations_from_a_pool_go_between_description_and_question(tmp_path: Path) -> None:
    from pytest_llmselect.lmeval.build import build_demo_pool

    (tmp_path / "data").mkdir()
    write_docs(tmp_path / "data" / "docs.jsonl")
    path = tmp_path / "t.yaml"
    path.write_text(TASK.format(builder="json", suffix=".jsonl") + "description: \"Add.\\n\"\nfewshot_split: test\n"
                    "fewshot_delimiter: \"\\n\"\n", encoding="utf-8")
    task = load_task(path)
    case = build_cases(task)[0]
    assert case.requests[0].prompt == "Add.\n1+2="
    assert case.with_demos("30+4=34\n")[0].prompt == "Add.\n30+4=34\n1+2="
    pool = build_demo_pool(task, None, "first:2")
    assert [e.fields["demo"] for e in pool.examples] == ["1+2=3\n", "30+4=34\n", "5+66=71\n"]
    assert pool.query_of(case) == "1+2="
