"""Reading lm-evaluation-harness task files: YAML with ``include:`` chains and ``!function`` tags.

Parsing executes nothing: a ``!function utils.name`` tag becomes a :class:`FunctionRef`
naming the file it points at. :func:`resolve_function` imports that file when the task
is built, as lm-eval does (the task folder's ``utils.py`` is code the task's authors wrote
and lm-eval runs it; so do we).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import yaml

from pytest_llmselect.errors import SpecError


class LmevalError(SpecError):
    """A task file the importer cannot read or does not support; the message names the file and the field."""


@dataclass(frozen=True)
class FunctionRef:
    """``!function module.name`` in the YAML file whose folder is ``folder``."""

    folder: Path
    qualname: str

    def __str__(self) -> str:
        return f"!function {self.qualname}"


def _loader(folder: Path) -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        pass

    def ctor(loader: yaml.SafeLoader, node: yaml.Node) -> FunctionRef:
        if not isinstance(node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(None, None, "!function takes a dotted name", node.start_mark)
        return FunctionRef(folder, str(loader.construct_scalar(node)))

    Loader.add_constructor("!function", ctor)
    return Loader


def load_yaml(path: str | Path, *, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The task file at ``path`` with its ``include:`` chain merged: included files first, in
    order, then the file's own keys (which win); an included file's ``task_list`` is dropped;
    relative includes are read from the including file's folder. Errors name the file."""
    p = Path(path).expanduser().resolve()
    if p in _seen:
        chain = " -> ".join(str(s.name) for s in (*_seen, p))
        raise LmevalError(f"{_seen[0]}: include cycle ({chain})")
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = f" (included from {_seen[-1]})" if _seen else ""
        raise LmevalError(f"{p}: task file not found{where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LmevalError(f"{p}: cannot read the task file ({exc})") from None
    try:
        cfg = yaml.load(text, Loader=_loader(p.parent))  # noqa: S506 - a SafeLoader plus one tag
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LmevalError(f"{p}{at}: invalid YAML ({problem})") from None
    except RecursionError:
        raise LmevalError(f"{p}: YAML nested too deeply") from None
    if not isinstance(cfg, dict):
        raise LmevalError(f"{p}: a task file must be a YAML mapping, got {type(cfg).__name__}")
    if "include" not in cfg:
        return cfg
    includes = cfg.pop("include")
    merged: dict[str, Any] = {}
    for inc in includes if isinstance(includes, list) else [includes]:
        if not isinstance(inc, str) or not inc:
            raise LmevalError(f"{p}: include must name a file (or a list of files), got {inc!r}")
        inc_cfg = load_yaml(p.parent / inc, _seen=(*_seen, p))
        inc_cfg.pop("task_list", None)
        merged.update(inc_cfg)
    merged.update(cfg)
    return merged


_MODULES: dict[Path, ModuleType] = {}


def _module_from_file(path: Path) -> ModuleType:
    if path in _MODULES:
        return _MODULES[path]
    # A name of our own per file: two task folders' utils.py must not replace each other in sys.modules.
    name = "_llmselect_lmeval_" + path.stem + "_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LmevalError(f"{path}: cannot load as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the task's own code (some call sys.exit on import)
        sys.modules.pop(name, None)
        first = (str(exc).strip().splitlines() or [""])[0]
        raise LmevalError(f"{path}: importing it failed: {type(exc).__name__}: {first}") from exc
    _MODULES[path] = module
    return module


def resolve_function(ref: FunctionRef) -> Callable[..., Any]:
    """The function a ``!function`` tag names: from ``<module>.py`` in the task file's folder,
    else from an importable module of that name (lm-eval's order)."""
    mod_path, _, fn_name = ref.qualname.rpartition(".")
    if not mod_path or not fn_name:
        raise LmevalError(f"{ref.folder}: {ref} needs a module and a function name, as in utils.process_docs")
    local = (ref.folder / f"{mod_path.replace('.', '/')}.py").resolve()
    if local.exists():
        module = _module_from_file(local)
    else:
        try:
            module = importlib.import_module(mod_path)
        except Exception as exc:  # noqa: BLE001
            raise LmevalError(f"{ref.folder}: {ref}: no {local.name} next to the task file and module "
                              f"{mod_path!r} cannot be imported ({type(exc).__name__}: {exc})") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise LmevalError(f"{ref.folder}: {ref}: module {mod_path!r} has no function {fn_name!r}")
    return fn
