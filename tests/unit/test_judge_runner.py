"""The judge's lifecycle, batching, cache and failures, with real (tiny) transformers models."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from pytest_llmselect.backends import load_backend  # noqa: E402
from pytest_llmselect.cache_layer import CacheLayer  # noqa: E402
from pytest_llmselect.candidates import parse_spec  # noqa: E402
from pytest_llmselect.judge.prompts import RUBRIC  # noqa: E402
from pytest_llmselect.judge.runner import JudgeRunner  # noqa: E402
from tests.helpers_tiny_model import build_tiny_model  # noqa: E402

FIELDS = [{"input": f"question {i}", "output": f"answer {i}", "reference": f"ref {i}"} for i in range(6)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("judge") / "m")


class Counting:
    """Wraps the real backend, counting the requests that reach the model."""

    def __init__(self, backend):
        self.inner, self.info, self.calls, self.requests = backend, backend.info, 0, 0

    def generate(self, requests, batch_size=16):
        self.calls += 1
        self.requests += len(requests)
        return self.inner.generate(requests, batch_size)

    def loglikelihood(self, requests, batch_size=16):
        self.calls += 1
        self.requests += len(requests)
        return self.inner.loglikelihood(requests, batch_size)

    def close(self):
        self.inner.close()


def runner(model_dir: Path, cache: CacheLayer | None, loads: list, method: str = "auto") -> JudgeRunner:
    def loader(cand, **kw):
        loads.append(cand.name)
        return Counting(load_backend(cand, **kw))

    return JudgeRunner(parse_spec(str(model_dir)), cache=cache, batch_size=64, method=method, loader=loader)


def test_grades_in_one_batch_loaded_once_and_cached(model_dir: Path, tmp_path: Path) -> None:
    loads: list = []
    warnings: list = []
    layer = CacheLayer(tmp_path / "c.sqlite", "readwrite", warn=warnings.append)
    judge = runner(model_dir, layer, loads)
    grades = judge.grade_many(RUBRIC, FIELDS)
    assert all(g.error is None and 0.0 <= g.score <= 1.0 and g.method == "logprobs" for g in grades)
    assert judge._backend.requests == 30 and judge._backend.calls == 1  # 6 outputs x 5 score tokens, one batch
    again = judge.grade_many(RUBRIC, FIELDS[:3])
    assert [g.score for g in again] == [g.score for g in grades[:3]]
    assert judge._backend.requests == 30 and loads == [judge.name]
    judge.close()
    layer.close()
    # another process: the grades come from the response cache, no judge request is run
    layer2 = CacheLayer(tmp_path / "c.sqlite", "readwrite", warn=warnings.append)
    judge2 = runner(model_dir, layer2, loads)
    assert [g.score for g in judge2.grade_many(RUBRIC, FIELDS)] == [g.score for g in grades]
    assert judge2._backend.requests == 0 and judge2.measures.cache_hits == 30
    # a changed template is another request: not served from the cache
    from pytest_llmselect.judge.prompts import template_for

    judge2.grade_many(template_for("rubric", RUBRIC.source + " "), FIELDS[:1])
    assert judge2._backend.requests == 5
    assert not warnings
    judge2.close()
    layer2.close()


def test_garbage_answers_are_errored_grades(model_dir: Path) -> None:
    # A random model's 8 generated characters hold no score 1-5 (or, by chance, one: then it is in range).
    judge = runner(model_dir, None, [], method="generate")
    grades = judge.grade_many(RUBRIC, FIELDS)
    for g in grades:
        assert (g.score is None and g.error.startswith("judge gave")) or (g.error is None and 0 <= g.score <= 1)
    assert judge.errors == sum(g.error is not None for g in grades) >= 1


def test_a_judge_that_raises_errors_its_grades_in_one_line(model_dir: Path) -> None:
    judge = runner(model_dir, None, [])
    judge.backend()

    def boom(requests, batch_size=16):
        raise RuntimeError("device lost\nmore detail")

    judge._backend.loglikelihood = boom
    grades = judge.grade_many(RUBRIC, FIELDS[:2])
    assert [g.error for g in grades] == ["judge failed: RuntimeError: device lost"] * 2


def test_a_judge_that_cannot_load(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    judge = JudgeRunner(parse_spec(str(broken)))
    grades = judge.grade_many(RUBRIC, FIELDS[:2])
    assert all(g.score is None and g.error.startswith("judge ") and "failed to load" in g.error for g in grades)
    assert "\n" not in grades[0].error


def test_pool_batches_a_group_records_grades_and_prices_the_judge(model_dir: Path) -> None:
    from types import SimpleNamespace

    from pytest_llmselect.cost import Price
    from pytest_llmselect.errors import JudgeError
    from pytest_llmselect.judge.pool import JudgePool

    pool = JudgePool(str(model_dir), batch_size=64)
    task = SimpleNamespace(name="t", judge=None)
    runner = pool.runner_for(task)
    pool.prefetch(task, "cand", "rubric", FIELDS)
    assert runner.measures.requests == 30 and runner.measures.batches == 1
    pool.prefetch(task, "cand", "rubric", FIELDS)  # once per (task, candidate, kind)
    grade = pool.grade(task, "node-1", "rubric", FIELDS[2])
    assert runner.measures.requests == 30  # served from the batch
    assert pool.grades_of("node-1")["rubric"]["score"] == grade.score
    assert pool.grades_of("node-1")["rubric"]["judge"] == str(model_dir)
    assert pool.grades_of("node-2") is None
    (cost,) = pool.evaluation_cost(lambda cand: Price(usd_per_hour=3600.0), "time")
    assert cost["usd"] == pytest.approx(runner.measures.model_seconds) and cost["grades"] == 1
    # a task's own judge wins over --llm-judge
    assert pool.spec_for(SimpleNamespace(name="v", judge="zoo:tiny")) == "zoo:tiny"
    assert pool.spec_for(task) == str(model_dir)
    with pytest.raises(JudgeError, match="task 'u' grades with a judge but none is set"):
        JudgePool(None).runner_for(SimpleNamespace(name="u", judge=None))
    pool.close()


def test_a_chat_judge_reads_the_prompt_as_a_user_turn() -> None:
    from pytest_llmselect.backends.base import GenerateRequest, LoglikelihoodRequest

    judge = JudgeRunner(parse_spec("zoo:small-chat"), method="logprobs")
    backend = judge.backend()
    (req, *rest) = judge.requests_for(RUBRIC, FIELDS[0])
    prompt = RUBRIC.render(FIELDS[0])
    context = backend._tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                     add_generation_prompt=True)
    assert isinstance(req, LoglikelihoodRequest) and req.context == context and req.continuation == "1"
    assert [r.continuation for r in rest] == ["2", "3", "4", "5"]
    judge.requested_method = "generate"
    (gen,) = judge.requests_for(RUBRIC, FIELDS[0])
    assert isinstance(gen, GenerateRequest) and gen.messages[0].content == prompt
    judge.close()
