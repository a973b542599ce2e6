"""Response cache: model results in one SQLite file, keyed by the model's identity, the request and
every setting that changes the answer, so a killed or repeated run never pays for a finished request
twice and never serves one model's answer for another.

Key = SHA-256 of (model identity, request). The model identity (``model_identity``) is

- a local model directory: SHA-256 of the contents of every file in it (weights, tokenizer files
  with their chat template, config, generation config), so one changed byte is another model;
- a hub model: its id and the commit of the revision that was loaded;
- a served model: what its backend reports in ``ModelInfo.extra["identity"]`` (base URL, model
  name and whatever identity the server gives);

plus the backend, its implementation versions (transformers, torch), the dtype and the device
type. The request carries the generation settings (``max_new_tokens``, ``stop``; any field a
request type adds, such as chat messages, is part of the key because the whole request is).

Each stored result keeps what was measured when it was computed: the wall time and size of its
batch (so a cache hit carries its latency and its share of model seconds) and its tokens. A read
from the cache is never timed as model work.

The file is opened in WAL mode: readers never block the writer, and one transaction per batch
keeps every finished batch even if the process is killed the next instant. A cache that cannot
be opened or written is reported once and switched off; the run goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from pytest_llmselect.backends.base import SAMPLING_DEFAULTS, GenerateResult, LoglikelihoodResult, ModelInfo
from pytest_llmselect.engine import OnBatch, Request, Result
from pytest_llmselect.errors import SpecError

MODES = ("off", "read", "readwrite")
DEFAULT_PATH = ".llmselect/cache.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,          -- sha256(model key, request)
    model_key TEXT NOT NULL,       -- sha256 of the model identity
    request TEXT NOT NULL,         -- the request as JSON
    result TEXT NOT NULL,          -- the result as JSON
    batch_id TEXT NOT NULL,        -- results computed in one batch share it
    batch_seconds REAL NOT NULL,   -- wall time of that batch (the latency of each of its requests)
    batch_size INTEGER NOT NULL,
    created REAL NOT NULL,         -- unix time
    last_used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS results_model ON results (model_key);
CREATE TABLE IF NOT EXISTS models (
    model_key TEXT PRIMARY KEY,
    label TEXT NOT NULL,           -- the candidate name and source it was first stored under
    identity TEXT NOT NULL         -- the identity as JSON
);
CREATE TABLE IF NOT EXISTS batch_rounds (
    batch_id TEXT PRIMARY KEY,     -- a stored batch of a group timed over several rounds
    round_factors TEXT NOT NULL    -- JSON: each timed round's model seconds over the stored round's
);
CREATE TABLE IF NOT EXISTS fingerprints (
    stat_key TEXT PRIMARY KEY,     -- sha256 of (path, size, mtime, inode) of every file of a directory
    sha256 TEXT NOT NULL           -- sha256 of the contents
);
"""



def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise SpecError(f"--llm-cache must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


@dataclass(frozen=True)
class Cached:
    """A result served from the cache, with what was measured when it was computed."""

    result: Result
    batch_id: str
    batch_seconds: float
    batch_size: int
    # Each timed round's model seconds of the group over those of the round whose batch was
    # stored: a cached re-run rebuilds the rounds, so its cost and interval are the computing
    # run's (None: stored by one round, or before rounds were kept).
    round_factors: tuple[float, ...] | None = None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=list)


def request_json(req: Request) -> str:
    """The request as canonical JSON: its type and every field (so new fields join the key).
    Sampling settings at their greedy defaults are left out, so a greedy request keeps the key
    it had before requests could be sampled."""
    fields = dataclasses.asdict(req)
    for name, default in SAMPLING_DEFAULTS.items():
        if name in fields and fields[name] == default:
            del fields[name]
    return _canonical({"kind": type(req).__name__, **fields})


def result_json(res: Result) -> str:
    return _canonical({"kind": type(res).__name__, **dataclasses.asdict(res)})


def result_from_json(text: str) -> Result:
    data = json.loads(text)
    kind = data.pop("kind")
    cls = {"GenerateResult": GenerateResult, "LoglikelihoodResult": LoglikelihoodResult}[kind]
    return cls(**data)


def _files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # .cache, .git: not the model
        out.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return out


def fingerprint_dir(root: str | os.PathLike[str], memo: ResponseCache | None = None) -> str:
    """SHA-256 of the relative path and contents of every file under ``root`` (hidden ones excepted).

    With ``memo``, a directory whose files all have the same size, mtime and inode as when last
    hashed is not read again (editing a file changes its mtime)."""
    base = Path(root)
    files = _files(base)
    stat_key = None
    if memo is not None:
        stats = [(f.relative_to(base).as_posix(), st.st_size, st.st_mtime_ns, st.st_ino)
                 for f in files for st in [f.stat()]]
        stat_key = _sha256(_canonical([str(base.resolve()), stats]))
        known = memo.fingerprint(stat_key)
        if known:
            return known
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(base).as_posix().encode("utf-8") + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    digest = h.hexdigest()
    if memo is not None and stat_key is not None:
        memo.remember_fingerprint(stat_key, digest)
    return digest


def model_identity(source: str, extra: Mapping[str, Any], *, dtype: str, device: str,
                   memo: ResponseCache | None = None) -> dict[str, Any] | None:
    """What makes two loaded models answer alike (see the module docstring); ``None`` when the
    model cannot be identified (a hub model whose commit is unknown): it is then not cached."""
    if "identity" in extra:  # served models: the backend knows best
        base: dict[str, Any] = {"served": extra["identity"]}
    elif os.path.isdir(source):
        base = {"files_sha256": fingerprint_dir(source, memo)}
    elif extra.get("commit"):
        base = {"hub": source, "commit": extra["commit"]}
    else:
        return None
    return {**base, "backend": extra.get("backend", "hf"), "implementation": extra.get("implementation"),
            "dtype": dtype, "device_type": device.split(":")[0]}


class ResponseCache:
    """One SQLite cache file; ``mode`` is ``read`` or ``readwrite``. Errors: ``sqlite3.Error`` and
    ``OSError`` from ``open`` (the caller turns them into one warning)."""

    def __init__(self, path: Path, mode: str = "readwrite") -> None:
        self.path = Path(path)
        self.mode = check_mode(mode)
        self.writable = mode == "readwrite"
        if self.writable:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise FileNotFoundError(2, "No such file", str(self.path))
        uri = self.path.resolve().as_uri() + ("?mode=ro" if not self.writable else "")
        # timeout: a second process writing at the same instant waits for its transaction, briefly.
        self._db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
        if self.writable:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed batch survives a kill
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- fingerprints ---------------------------------------------------------------------

    def fingerprint(self, stat_key: str) -> str | None:
        try:
            row = self._db.execute("SELECT sha256 FROM fingerprints WHERE stat_key = ?", (stat_key,)).fetchone()
        except sqlite3.OperationalError:  # a read-only cache from before fingerprints were kept
            return None
        return row[0] if row else None

    def remember_fingerprint(self, stat_key: str, digest: str) -> None:
        if self.writable:
            self._db.execute("INSERT OR REPLACE INTO fingerprints VALUES (?, ?)", (stat_key, digest))

    # -- results --------------------------------------------------------------------------

    @staticmethod
    def model_key(identity: Mapping[str, Any]) -> str:
        return _sha256(_canonical(identity))

    @staticmethod
    def _key(model_key: str, req: Request) -> str:
        return _sha256(model_key + "\0" + request_json(req))

    def get_many(self, model_key: str, requests: Iterable[Request]) -> dict[Request, Cached]:
        """The cached results among ``requests`` (distinct requests; missing ones are absent)."""
        wanted = {self._key(model_key, r): r for r in dict.fromkeys(requests)}
        found: dict[Request, Cached] = {}
        keys = list(wanted)
        for i in range(0, len(keys), 500):  # SQLite's limit on bound parameters
            chunk = keys[i:i + 500]
            rows = self._db.execute(
                f"SELECT key, result, batch_id, batch_seconds, batch_size FROM results "
                f"WHERE key IN ({','.join('?' * len(chunk))})", chunk).fetchall()
            for key, result, batch_id, seconds, size in rows:
                found[wanted[key]] = Cached(result_from_json(result), batch_id, seconds, size)
        factors = self._round_factors({c.batch_id for c in found.values()})
        if factors:
            found = {r: dataclasses.replace(c, round_factors=factors.get(c.batch_id)) for r, c in found.items()}
        if found and self.writable:
            hit_keys = [k for k in keys if wanted[k] in found]
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("UPDATE results SET last_used = ? WHERE key = ?",
                                     [(time.time(), k) for k in hit_keys])
        return found

    def _round_factors(self, batch_ids: set[str]) -> dict[str, tuple[float, ...]]:
        out: dict[str, tuple[float, ...]] = {}
        ids = sorted(batch_ids)
        try:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                for batch_id, text in self._db.execute(
                        f"SELECT batch_id, round_factors FROM batch_rounds WHERE batch_id IN "
                        f"({','.join('?' * len(chunk))})", chunk):
                    out[batch_id] = tuple(float(f) for f in json.loads(text))
        except sqlite3.OperationalError:  # a read-only cache from before rounds were kept
            return {}
        return out

    def put_rounds(self, batch_ids: Sequence[str], factors: Sequence[float]) -> None:
        """Keep, for batches stored by a group timed over several rounds, each round's model
        seconds over the stored round's."""
        if not self.writable or not batch_ids:
            return
        text = json.dumps([float(f) for f in factors])
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR IGNORE INTO batch_rounds VALUES (?, ?)", [(b, text) for b in batch_ids])

    def put_batch(self, model_key: str, identity: Mapping[str, Any], label: str,
                  pairs: Sequence[tuple[Request, Result]], seconds: float) -> str | None:
        """Store one computed batch in one transaction: all of it or (killed first) none of it.
        Returns the batch's id (None when every result was already stored)."""
        if not self.writable or not pairs:
            return None
        now, batch_id = time.time(), uuid.uuid4().hex
        rows = [(self._key(model_key, req), model_key, request_json(req), result_json(res), batch_id,
                 float(seconds), len(pairs), now, now) for req, res in pairs]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR IGNORE INTO models VALUES (?, ?, ?)", (model_key, label, _canonical(identity)))
            # A result computed again (another benchmark round, a concurrent job) keeps its first measurement.
            stored = self._db.executemany("INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                          rows).rowcount
        return batch_id if stored else None

    # -- listing and pruning ----------------------------------------------------------------

    def summary(self) -> list[dict[str, Any]]:
        """Per model: label, model key, entries, bytes of stored JSON, oldest and last use (unix time)."""
        rows = self._db.execute(
            "SELECT r.model_key, COALESCE(m.label, '?'), COUNT(*), SUM(LENGTH(r.request) + LENGTH(r.result)), "
            "MIN(r.created), MAX(r.last_used) FROM results r LEFT JOIN models m ON m.model_key = r.model_key "
            "GROUP BY r.model_key ORDER BY MAX(r.last_used) DESC").fetchall()
        return [{"model_key": k, "label": label, "entries": n, "bytes": size, "created": created,
                 "last_used": used} for k, label, n, size, created, used in rows]

    def prune(self, *, model: str | None = None, older_than_days: float | None = None) -> int:
        """Delete entries of models whose key starts with, or whose label contains, ``model`` and/or
        entries not used for ``older_than_days``; with neither, every entry. Returns how many."""
        where, params = [], []
        if model:
            where.append("(model_key LIKE ? OR model_key IN (SELECT model_key FROM models WHERE instr(label, ?) > 0))")
            params += [model + "%", model]
        if older_than_days is not None:
            where.append("last_used < ?")
            params.append(time.time() - older_than_days * 86400)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            deleted = self._db.execute("DELETE FROM results" + clause, params).rowcount
            self._db.execute("DELETE FROM models WHERE model_key NOT IN (SELECT DISTINCT model_key FROM results)")
            self._db.execute("DELETE FROM batch_rounds WHERE batch_id NOT IN (SELECT DISTINCT batch_id FROM results)")
        self._db.execute("VACUUM")
        return deleted


class CacheLayer:
    """The session's side of the cache, between it and the backend: opens the file on first use,
    identifies each loaded model once, serves hits and stores each computed batch. Any failure
    (unwritable folder, locked or corrupt file) is one ``warn`` line and the cache switches off;
    the run goes on. ``path`` ``None`` means off."""

    def __init__(self, path: Path | None, mode: str, warn: Callable[[str], None]) -> None:
        self.path, self.mode, self._warn = path, mode, warn
        self._cache: ResponseCache | None = None
        self._opened = False
        self._keys: dict[str, tuple[str, dict[str, Any]] | None] = {}

    def _open(self) -> ResponseCache | None:
        if not self._opened:
            self._opened = True
            if self.path is not None and self.mode != "off":
                try:
                    self._cache = ResponseCache(self.path, self.mode)
                except FileNotFoundError:
                    pass  # --llm-cache=read and nothing cached yet: every request is a miss
                except (OSError, sqlite3.Error) as exc:
                    self._problem(exc)
        return self._cache

    def _problem(self, exc: BaseException) -> None:
        self._warn(f"cannot use the response cache {self.path} ({getattr(exc, 'strerror', None) or exc}); "
                   "the run goes on without it")
        self._cache = None

    def lookup(self, name: str, source: str, info: ModelInfo, requests: Sequence[Request]
               ) -> tuple[dict[Request, Cached], OnBatch | None]:
        """Cached results among ``requests`` of the model ``name`` loaded from ``source``, and the
        callback that stores each batch computed for the others (``None``: nothing is stored)."""
        cache = self._open()
        if cache is None:
            return {}, None
        try:
            if name not in self._keys:
                identity = model_identity(source, info.extra, dtype=info.dtype, device=info.device, memo=cache)
                self._keys[name] = None if identity is None else (cache.model_key(identity), identity)
            keyed = self._keys[name]
            if keyed is None:
                return {}, None  # cannot tell this model from another: never cache it
            key, identity = keyed
            hits = cache.get_many(key, requests)
        except (OSError, sqlite3.Error) as exc:
            self._problem(exc)
            return {}, None
        return hits, (_Store(self, key, identity, f"{name} ({source})") if cache.writable else None)

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None


class _Store:
    """Stores each batch computed for one group (an ``OnBatch``), then, once its timed rounds
    are known, how each round compares with the one stored (``rounds``)."""

    def __init__(self, layer: CacheLayer, key: str, identity: dict[str, Any], label: str) -> None:
        self._layer, self._key, self._identity, self._label = layer, key, identity, label
        self.batch_ids: list[str] = []

    def __call__(self, batch: Sequence[Request], results: Sequence[Result], seconds: float) -> None:
        cache = self._layer._cache
        if cache is None:
            return
        try:
            batch_id = cache.put_batch(self._key, self._identity, self._label, list(zip(batch, results)), seconds)
        except (OSError, sqlite3.Error) as exc:
            self._layer._problem(exc)
            return
        if batch_id is not None:
            self.batch_ids.append(batch_id)

    def rounds(self, factors: Sequence[float]) -> None:
        cache = self._layer._cache
        if cache is None:
            return
        try:
            cache.put_rounds(self.batch_ids, factors)
        except (OSError, sqlite3.Error) as exc:
            self._layer._problem(exc)
