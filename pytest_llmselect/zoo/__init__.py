"""Tiny reference models the project trains itself, for machines without a model hub.

``zoo_path("small")`` returns a directory that ``AutoModelForCausalLM.from_pretrained``
and ``AutoTokenizer.from_pretrained`` load offline, training the model on first
use and caching it under a name that includes the recipe's hash, so a changed
recipe never serves stale weights and an unchanged one is never retrained.

Importing this package is cheap: torch and transformers are imported only when a
model has to be built.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from pytest_llmselect.zoo.recipes import ALL_ZOO_NAMES, CODE_VERSION, ZOO_NAMES, Recipe, get_recipe, recipe_hash
from pytest_llmselect.zoo.tasks import DATA_VERSION

__all__ = ["ALL_ZOO_NAMES", "ZOO_NAMES", "Recipe", "cache_dir", "get_recipe", "is_built", "recipe_hash",
           "zoo_path"]

RECIPE_FILE = "recipe.json"
HELDOUT_METRICS = {"addition": "exact_match", "largest": "loglik_accuracy", "multiples": "token_f1"}


def cache_dir() -> Path:
    """``$LLMSELECT_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-llmselect``, else ``~/.cache/pytest-llmselect``."""
    explicit = os.environ.get("LLMSELECT_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "pytest-llmselect"


def zoo_path(name: str, *, build: bool = True,
             on_step: Callable[[int, int, float], None] | None = None) -> Path:
    """Directory of the zoo model ``name`` (one of ``ZOO_NAMES``).

    With ``build=True`` (the default) the model is trained and saved first if it is
    not cached yet; otherwise the path is returned as is and may not exist yet.
    ``on_step(done, total, seconds)`` is called after each training step of a build.
    Raises ``KeyError`` for an unknown name.
    """
    from pytest_llmselect.zoo.chat import CHAT_MODELS

    if name in CHAT_MODELS:  # a chat variant: a base model's weights with a chat template
        return _chat_model_path(name, build=build)
    get_recipe(name)  # KeyError listing the valid names, before touching the disk
    final = cache_dir() / "zoo" / f"{name}-{recipe_hash(name)}"
    if not build or _is_built(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(final.parent / f".{final.name}.lock"):
        # Another process may have finished the build while we waited for the lock.
        if not _is_built(final):
            _build_into(name, final, on_step)
    return final


def _chat_model_path(name: str, *, build: bool = True) -> Path:
    """Directory of the chat variant ``name``; built from its base model on first use."""
    from pytest_llmselect.zoo.chat import CHAT_MODELS, chat_hash, derive

    final = cache_dir() / "zoo" / f"{name}-{chat_hash(name)}"
    if not build or _is_built(final):
        return final
    base = zoo_path(CHAT_MODELS[name])
    with _exclusive(final.parent / f".{final.name}.lock"):
        if _is_built(final):
            return final
        for stale in final.parent.glob(f".tmp-{final.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
        tmp.chmod(0o755)
        try:
            derive(base, tmp, name, RECIPE_FILE)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def is_built(name: str) -> bool:
    """True when ``name`` is in the cache under its current recipe (nothing to train)."""
    return _is_built(zoo_path(name, build=False))


def read_build_record(path: Path) -> dict[str, object]:
    """The ``recipe.json`` written at build time: recipe, seconds, held-out scores."""
    return json.loads((path / RECIPE_FILE).read_text(encoding="utf-8"))


def _is_built(path: Path) -> bool:
    # The directory appears by an atomic rename only once complete, so its
    # record file existing means the whole model is there.
    return (path / RECIPE_FILE).is_file()


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    # save_pretrained draws a progress bar per model, noise in a build log or a test run.
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An advisory inter-process lock (pytest-xdist workers build the same model)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename still keeps the cache consistent
        yield
        return
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _build_into(name: str, final: Path, on_step: Callable[[int, int, float], None] | None = None) -> None:
    # Heavy imports here, not at module level: see the module docstring.
    from pytest_llmselect.zoo.evaluate import heldout_scores
    from pytest_llmselect.zoo.train import TRAIN_THREADS, torch_threads, train

    import torch
    import transformers

    recipe = get_recipe(name)
    # We hold the lock, so a temp dir of this model is left over from a killed build.
    for stale in final.parent.glob(f".tmp-{final.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would survive the rename and hide the model from other users
    try:
        cpu_start = time.process_time()
        model, tokenizer, seconds = train(recipe, on_step=on_step)
        start = time.perf_counter()
        with torch_threads(TRAIN_THREADS):
            if recipe.schedule == ("lookup",):  # a task model: scored on its own task only
                from pytest_llmselect.zoo.lookup_eval import LOOKUP_METRICS, lookup_heldout

                scores, metrics = lookup_heldout(model, tokenizer), LOOKUP_METRICS
            else:
                scores, metrics = heldout_scores(model, tokenizer), HELDOUT_METRICS
        eval_seconds = time.perf_counter() - start
        with _quiet_progress_bars():
            model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        record = {
            "name": name,
            "recipe_hash": recipe_hash(name),
            "recipe": recipe.to_json(),
            "data_version": DATA_VERSION,
            "code_version": CODE_VERSION,
            "num_parameters": model.num_parameters(),
            "train_seconds": round(seconds, 2),
            # CPU seconds of training and evaluation: unlike the wall time, about the same on a
            # busy machine as on an idle one (one thread, so roughly its idle wall time).
            "cpu_seconds": round(time.process_time() - cpu_start, 2),
            "eval_seconds": round(eval_seconds, 2),
            "heldout": {k: round(v, 4) for k, v in scores.items()},
            "heldout_metrics": metrics,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "threads": TRAIN_THREADS,
        }
        (tmp / RECIPE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        for item in tmp.iterdir():
            item.chmod(0o644)  # the weights are written 0600; the cache may be shared
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
