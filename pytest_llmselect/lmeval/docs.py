"""A task's documents from local files only, through the ``datasets`` library, never the network.

Two ways in: the task's own ``dataset_kwargs.data_files`` (``dataset_path: json`` and friends),
or a mapping from a Hub dataset (id, config, split) to a local file, for tasks that name a
Hub dataset: ``--llm-lmeval-data "allenai/ai2_arc ARC-Easy test = data/arc.jsonl"``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from pytest_llmselect.errors import MissingDependency
from pytest_llmselect.lmeval.config import TaskConfig
from pytest_llmselect.lmeval.yamlfile import LmevalError

BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text",
            ".arrow": "arrow"}
PACKAGED = ("json", "csv", "parquet", "text", "arrow")
OFFLINE_ENV = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")


@dataclass(frozen=True)
class DataKey:
    """A Hub dataset's split: ``dataset`` (its id), ``config`` (dataset_name, or None), ``split``."""

    dataset: str
    config: str | None
    split: str

    def __str__(self) -> str:
        return " ".join(x for x in (self.dataset, self.config, self.split) if x)


def parse_mapping(entries: list[str] | tuple[str, ...], base: Path, what: str) -> dict[DataKey, Path]:
    """Lines ``DATASET [CONFIG] SPLIT = FILE``; a relative FILE is read from ``base``."""
    out: dict[DataKey, Path] = {}
    for entry in entries:
        if not entry.strip():
            continue
        left, eq, right = entry.partition("=")
        parts = left.split()
        if not eq or not right.strip() or len(parts) not in (2, 3):
            raise LmevalError(f"{what}: {entry!r} is not 'DATASET [CONFIG] SPLIT = FILE'")
        key = DataKey(parts[0], parts[1] if len(parts) == 3 else None, parts[-1])
        path = Path(right.strip()).expanduser()
        out[key] = path if path.is_absolute() else base / path
    return out


@contextmanager
def offline() -> Iterator[None]:
    """The Hub and ``datasets`` told to stay offline for the block, also when already imported."""
    saved = {k: os.environ.get(k) for k in OFFLINE_ENV}
    os.environ.update({k: "1" for k in OFFLINE_ENV})
    patched: list[tuple[Any, str, Any]] = []
    try:
        import datasets.config as dconfig

        for mod, attr in ((dconfig, "HF_DATASETS_OFFLINE"), (dconfig, "HF_HUB_OFFLINE")):
            if hasattr(mod, attr):
                patched.append((mod, attr, getattr(mod, attr)))
                setattr(mod, attr, True)
        try:
            import huggingface_hub.constants as hconst

            if hasattr(hconst, "HF_HUB_OFFLINE"):
                patched.append((hconst, "HF_HUB_OFFLINE", hconst.HF_HUB_OFFLINE))
                hconst.HF_HUB_OFFLINE = True
        except ImportError:
            pass
        yield
    finally:
        for mod, attr, value in reversed(patched):
            setattr(mod, attr, value)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise MissingDependency("lm-eval task files need the `datasets` library: pip install 'pytest-llmselect[lmeval]'") from None
    return datasets


def _files(value: Any, base: Path) -> list[str]:
    items = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    out = []
    for item in items:
        p = Path(str(item)).expanduser()
        out.append(str(p if p.is_absolute() else base / p))
    return out


def _load_files(builder: str, files: list[str], split: str, where: str) -> Any:
    missing = [f for f in files if not Path(f).exists()]
    if missing:
        raise LmevalError(f"{where}: data file {missing[0]} not found")
    datasets = _datasets()
    from datasets.utils import logging as dlogging

    bars = dlogging.is_progress_bar_enabled()
    dlogging.disable_progress_bar()  # a bar per split read would bury pytest's own output
    with offline():
        try:
            return datasets.load_dataset(builder, data_files={split: files}, split=split)
        except Exception as exc:  # noqa: BLE001 - a malformed file: one line naming it
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise LmevalError(f"{where}: cannot read {', '.join(files)} ({type(exc).__name__}: {first})") from None
        finally:
            if bars:
                dlogging.enable_progress_bar()


def load_split(task: TaskConfig, split: str, mapping: Mapping[DataKey, Path]) -> Any:
    """The ``datasets.Dataset`` of one split of the task's data, from local files only."""
    where = f"{task.source}: task {task.name!r}"
    path = task.dataset_path
    kwargs = dict(task.dataset_kwargs)
    kwargs.pop("trust_remote_code", None)
    key = DataKey(path or "", task.dataset_name, split)
    if key in mapping:
        target = mapping[key]
        builder = BUILDERS.get(target.suffix.lower())
        if builder is None:
            raise LmevalError(f"{where}: {target} is not a .json, .jsonl, .csv, .parquet, .txt or .arrow file")
        return _load_files(builder, [str(target)], split, where)
    if path in PACKAGED and "data_files" in kwargs:
        data_files = kwargs.pop("data_files")
        if kwargs:
            raise LmevalError(f"{where}: dataset_kwargs.{sorted(kwargs)[0]} is not supported")
        if isinstance(data_files, Mapping):
            if split not in data_files:
                raise LmevalError(f"{where}: dataset_kwargs.data_files has no split {split!r} "
                                  f"(it has {', '.join(map(str, data_files))})")
            files = _files(data_files[split], task.source.parent)
        elif split == "train":
            files = _files(data_files, task.source.parent)
        else:
            raise LmevalError(f"{where}: dataset_kwargs.data_files without split names only holds 'train', "
                              f"not {split!r}")
        return _load_files(path, files, split, where)
    raise LmevalError(f"{where}: dataset {str(key)!r} is not available offline; map it to a local file: "
                      f"--llm-lmeval-data '{key} = FILE' (or lmeval_suite(data=...))")


def has_split(task: TaskConfig, split: str, mapping: Mapping[DataKey, Path]) -> bool:
    if DataKey(task.dataset_path or "", task.dataset_name, split) in mapping:
        return True
    files = task.dataset_kwargs.get("data_files")
    if task.dataset_path in PACKAGED and files is not None:
        return split in files if isinstance(files, Mapping) else split == "train"
    return False
