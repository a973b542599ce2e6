"""lm-eval's filters, per-document metrics and aggregations, reproduced so an imported task
scores every document as lm-eval does. Pure: no pytest, no torch, no I/O."""

from __future__ import annotations

import functools
import math
import re
import string
import sys
import unicodedata
from collections import Counter
from typing import Any, Mapping, Sequence

from pytest_llmselect.lmeval.config import FilterPipeline, MetricSpec
from pytest_llmselect.lmeval.yamlfile import LmevalError

# ---- filters: each maps one document's responses (a list, or one value after take_first) -----


def _each(value: Any) -> list[Any]:
    return list(value)  # lm-eval iterates whatever it is given (a string: its characters)


def _regex(value: Any, regex_pattern: str = r"#### (\-?[0-9\.\,]+)", group_select: int = 0,
           fallback: str = "[invalid]") -> list[Any]:
    pattern = re.compile(regex_pattern)
    out = []
    for resp in _each(value):
        if not isinstance(resp, str):
            resp = ""
        found = pattern.findall(resp)
        if found:
            match = found[group_select]
            if isinstance(match, tuple):
                parts = [m for m in match if m]
                match = parts[0] if parts else fallback
            out.append(match.strip())
        else:
            out.append(fallback)
    return out


@functools.lru_cache(maxsize=1)
def _punctuation() -> dict[int, None]:
    """Every Unicode punctuation code point (category P*), as lm-eval's filter strips them."""
    return dict.fromkeys(i for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P"))


def _find(pattern: re.Pattern[str], resp: Any, group_select: int, convert: Mapping[str, str] | None = None) -> Any:
    if not isinstance(resp, str):
        resp = ""
    found: Any = pattern.findall(resp)
    if found:
        found = found[group_select]
        if isinstance(found, tuple):
            parts = [m for m in found if m]
            if not parts:
                return ""
            found = parts[0]
        found = found.strip()
        if found and convert and found in convert:
            found = convert[found]
    return found


def _multi_choice_regex(value: Any, doc: Mapping[str, Any] | None, regex_pattern: str = r"#### (\-?[0-9\.\,]+)",
                        group_select: int = 0, fallback: str = "[invalid]", ignore_case: bool = False,
                        ignore_punctuation: bool = False, regexes_to_ignore: Sequence[str] | None = None) -> list[Any]:
    """lm-eval's ``multi_choice_regex``: the pattern; failing that a choice's text in the
    response, as its letter "(A)"; failing that ": A", as "(A)". The choices are the
    document's ``choices`` field."""
    if doc is None or "choices" not in doc:
        raise LmevalError("multi_choice_regex reads the document's 'choices' field, and this document has none")

    def ignore(text: str) -> str:
        for pat in regexes_to_ignore or ():
            text = re.sub(pat, "", text)
        if ignore_case:
            text = text.lower()
        if ignore_punctuation:
            text = text.translate(_punctuation())
        return text

    to_letter: dict[str, str] = {}
    texts, letters = [], []
    for i, choice in enumerate(doc["choices"]):
        letter = chr(ord("A") + i)
        text = ignore(choice.strip())
        texts.append(re.escape(text))
        to_letter[text] = f"({letter})"
        letters.append(letter)
    by_text = re.compile("|".join(sorted(texts, key=len, reverse=True)))  # longest first: no prefix shadows
    by_letter = re.compile(rf":[\s]*({'|'.join(letters)})")
    pattern = re.compile(regex_pattern)
    out = []
    for resp in _each(value):
        match = _find(pattern, resp, group_select)
        if not match:
            match = _find(by_text, ignore(resp), group_select, to_letter)
            if not match:
                match = _find(by_letter, resp, group_select, {x: f"({x})" for x in letters})
        out.append(match if match else fallback)
    return out


def _take_first_k(value: Any, k: int) -> list[Any]:
    if len(value) < k:
        raise LmevalError(f"take_first_k: k={k} but only {len(value)} responses per document; raise repeats")
    return list(value[:k])


def apply_filter(step: str, kwargs: Mapping[str, Any], value: Any, doc: Mapping[str, Any] | None = None) -> Any:
    if step == "take_first":
        return value[0]
    if step == "take_first_k":
        return _take_first_k(value, **kwargs)
    if step == "majority_vote":
        return [Counter(value).most_common(1)[0][0]]
    if step == "regex":
        return _regex(value, **kwargs)
    if step == "multi_choice_regex":
        return _multi_choice_regex(value, doc, **kwargs)
    if step == "remove_whitespace":
        return [r.strip() for r in _each(value)]
    if step == "lowercase":
        return [r.lower() for r in _each(value)]
    if step == "uppercase":
        return [r.upper() for r in _each(value)]
    raise LmevalError(f"filter {step!r} is not supported")


def run_pipeline(pipeline: FilterPipeline, responses: Sequence[Any], doc: Mapping[str, Any] | None = None) -> Any:
    """One document's responses through ``pipeline``; ``doc`` is the document (multi_choice_regex reads it)."""
    value: Any = list(responses)
    for step, kwargs in pipeline.steps:
        try:
            value = apply_filter(step, kwargs, value, doc)
        except (TypeError, IndexError, AttributeError) as exc:
            raise LmevalError(f"filter {step!r} in {pipeline.name!r}: {type(exc).__name__}: {exc}") from None
    return value


# ---- per-document metrics -------------------------------------------------------------------


def exact_match(prediction: str, reference: str, *, regexes_to_ignore: Sequence[str] | None = None,
                ignore_case: bool = False, ignore_punctuation: bool = False, ignore_numbers: bool = False) -> float:
    """lm-eval's ``exact_match`` (from HF evaluate) with its options, for one pair."""
    pred, ref = str(prediction), str(reference)
    for pattern in regexes_to_ignore or ():
        pred, ref = re.sub(pattern, "", pred), re.sub(pattern, "", ref)
    if ignore_case:
        pred, ref = pred.lower(), ref.lower()
    if ignore_punctuation:
        table = str.maketrans("", "", string.punctuation)
        pred, ref = pred.translate(table), ref.translate(table)
    if ignore_numbers:
        table = str.maketrans("", "", string.digits)
        pred, ref = pred.translate(table), ref.translate(table)
    return 1.0 if pred == ref else 0.0


def argmax(values: Sequence[float]) -> int:
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:  # numpy.argmax: the first of equal maxima
            best = i
    return best


def gold_index(gold: Any, choices: Sequence[str]) -> Any:
    """lm-eval's gold for a multiple-choice document: an index, a list of indices, or -100 (invalid)."""
    if isinstance(gold, list):
        return [g if g < len(choices) else -100 for g in gold]
    if isinstance(gold, str):
        return choices.index(gold) if gold in choices else -100
    return gold if gold < len(choices) else -100


def multiple_choice(lls: Sequence[float], greedy: Sequence[bool], choices: Sequence[str], gold: Any,
                    metrics: Sequence[MetricSpec]) -> dict[str, Any]:
    """Per-document values (or aggregation items) of a multiple-choice document."""
    pred = argmax(lls)
    pred_norm = argmax([ll / float(len(c)) for ll, c in zip(lls, choices)])
    pred_bytes = argmax([ll / float(len(c.encode("utf-8"))) for ll, c in zip(lls, choices)])
    many = isinstance(gold, list)

    def hit(p: int) -> float:
        return 1.0 if (p in gold if many else p == gold) else 0.0

    out: dict[str, Any] = {}
    for m in metrics:
        if m.name == "acc":
            out["acc"] = hit(pred)
        elif m.name == "acc_norm":
            out["acc_norm"] = hit(pred_norm)
        elif m.name == "acc_bytes":
            out["acc_bytes"] = hit(pred_bytes)
        elif m.name == "exact_match":
            out["exact_match"] = (float(any(greedy[g] if g != -100 else 0 for g in gold)) if many
                                  else float(greedy[gold]) if gold != -100 else 0.0)
        elif m.name in ("f1", "mcc"):
            out[m.name] = [gold, pred]
    return out


def generation(result: Any, gold: Any, many_targets: bool, metrics: Sequence[MetricSpec]) -> dict[str, Any]:
    """Per-document values of a generate_until document, after its filters (lm-eval's process_results)."""
    if not many_targets and type(gold) is not type(result) and not isinstance(result, list):
        gold = type(result)(gold)
    out: dict[str, Any] = {}
    for m in metrics:
        if m.name == "exact_match":
            if many_targets:
                golds = gold if isinstance(gold, list) else [gold]
                out["exact_match"] = 1.0 if any(exact_match(result, g, **m.kwargs) for g in golds) else 0.0
            else:
                out["exact_match"] = exact_match(result, gold, **m.kwargs)
        elif many_targets:
            raise LmevalError(f"metric {m.name!r} with several targets per document is not supported")
        else:
            out[m.name] = [gold, result]  # bleu, chrf, ter: scored over the corpus
    return out


def loglikelihood(ll: float, is_greedy: bool, metrics: Sequence[MetricSpec]) -> dict[str, Any]:
    names = {m.name for m in metrics}
    return {**({"perplexity": ll} if "perplexity" in names else {}), **({"acc": int(is_greedy)} if "acc" in names else {})}


def count_words(text: str) -> int:
    return len(re.split(r"\s+", text))


def rolling(ll: float, text: str, metrics: Sequence[MetricSpec]) -> dict[str, Any]:
    units = {"word_perplexity": count_words(text), "byte_perplexity": len(text.encode("utf-8")),
             "bits_per_byte": len(text.encode("utf-8"))}
    return {m.name: [ll, units[m.name]] for m in metrics}


# ---- aggregation over documents, and one document's own value ------------------------------


def _sacre(items: Sequence[Sequence[Any]]) -> tuple[list[str], list[list[str]]]:
    refs = [r if isinstance(r, list) else [r] for r, _ in items]
    preds = [p[0] if isinstance(p, list) else p for _, p in items]
    return preds, [list(x) for x in zip(*refs)]


def aggregate(name: Any, items: Sequence[Any]) -> float:
    """lm-eval's aggregation ``name`` over per-document items (or the task's own function of them)."""
    if not items:
        raise LmevalError(f"aggregate {name!r}: no documents")
    if callable(name):
        return float(name(list(items)))
    if name == "mean":
        return float(sum(items) / len(items))
    if name == "median":
        return float(sorted(items)[len(items) // 2])
    if name == "perplexity":
        return math.exp(-sum(items) / len(items))
    if name in ("weighted_perplexity", "bits_per_byte"):
        mean = sum(a for a, _ in items) / sum(b for _, b in items)
        return math.exp(-mean) if name == "weighted_perplexity" else -mean / math.log(2)
    if name in ("f1", "matthews_corrcoef"):
        from sklearn.metrics import f1_score, matthews_corrcoef

        golds, preds = zip(*items)
        try:
            return float(f1_score(golds, preds) if name == "f1" else matthews_corrcoef(golds, preds))
        except ValueError as exc:  # sklearn's binary f1 of labels it cannot take: lm-eval fails the same way
            raise LmevalError(f"aggregate {name!r}: {(str(exc).splitlines() or [''])[0]}") from None
    if name in ("bleu", "chrf", "ter"):
        import sacrebleu

        preds, refs = _sacre(items)
        fn = {"bleu": sacrebleu.corpus_bleu, "chrf": sacrebleu.corpus_chrf, "ter": sacrebleu.corpus_ter}[name]
        return float(fn(preds, refs).score)
    raise LmevalError(f"aggregation {name!r} is not supported")


def document_score(metric: MetricSpec, item: Any) -> float:
    """The value one document contributes as a case score: the metric computed on that
    document alone (its aggregation over a corpus of one)."""
    if metric.name in ("f1", "mcc"):
        raise LmevalError(f"metric {metric.name!r} has no value for a single document: score the task "
                          "by another metric (lmeval_suite(metric=...)); it is still aggregated in the extras")
    if metric.aggregation == "mean" or metric.aggregation == "median":
        return float(item)
    try:
        return aggregate(metric.aggregation, [item])
    except OverflowError:  # exp of a huge negative log-likelihood: recorded, and refused as not finite
        return math.inf


def sentence_scores(metric: MetricSpec) -> tuple[float, float] | None:
    """The range a document's score lies in (None: unbounded, or a task's own metric)."""
    from pytest_llmselect.lmeval.config import METRIC_INFO

    if metric.name not in METRIC_INFO or callable(metric.aggregation):
        return None
    if metric.aggregation in ("mean", "median") and metric.name != "perplexity":
        return (0.0, 1.0)
    if metric.name in ("bleu", "chrf"):
        return (0.0, 100.0)
    return None
