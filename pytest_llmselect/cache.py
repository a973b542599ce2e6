"""Response cache: model results in one SQLite file, keyed by the model's identity, the request and
every setting that changes the answer, so a killed or repeated run never pays for a finished request
twice and never serves one model's answer for another.

Key = SHA-256 of (model identity, request). The model identity (``model_identity``) is

- a local model directory: SHA-256 of the contents of every file in it (weights, tokenizer files
  with their chat template, config, generation config), so one changed byte is another model.
  The digest is remembered against each file's size, mtime, ctime and inode, and only for files
  last changed more than ``RACY_S`` seconds before they were hashed: a file rewritten in place
  with its size, inode and mtime put back still has a new ctime (no call sets it), and a file
  changed within the clock's granularity of the hashing is hashed again next time;
- a hub model: its id and the commit of the revision that was loaded;
- a served model: what its backend reports in ``ModelInfo.extra["identity"]`` (base URL, model
  name and whatever identity the server gives), less the model card's fields that change
  between requests (``VOLATILE_CARD_FIELDS``: vLLM's ``created`` is the time of the request).
  A server can change the model behind a name without any of this changing: answers of a
  served model older than ``max_age_s`` (``--llm-cache-max-age``) are sent again and replaced;

plus the backend, its implementation versions (transformers, torch), the dtype and the device
type. The request carries the generation settings (``max_new_tokens``, ``stop``; any field a
request type adds, such as chat messages, is part of the key because the whole request is).

Each stored result keeps what was measured when it was computed: the wall time and size of its
batch (so a cache hit carries its latency and its share of model seconds), its tokens, the
group's peak memory (so ``max_peak_memory`` constraints hold on a cached re-run) and when it
was stored. A read from the cache is never timed as model work.

The file is opened in WAL mode: readers never block the writer, and one transaction per batch
keeps every finished batch even if the process is killed the next instant. A served model's
answers are stored one by one as they arrive (``_Store.one``, from the backend's thread), each
as a batch of one timed by its own round trip; when the whole group ends they are stored again
as its batch, in one transaction, so a finished run keeps what it always kept and a killed one
loses only the requests in flight. ``read`` mode opens
the file read-only, and on a read-only disk (where SQLite cannot create the WAL's shared-memory
file) as immutable. A cache that cannot be opened or written is reported once and switched off;
the run goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from pytest_llmselect.backends.base import SAMPLING_DEFAULTS, GenerateResult, LoglikelihoodResult
from pytest_llmselect.engine import Request, Result
from pytest_llmselect.errors import SpecError
from pytest_llmselect.identity import RACY_S, VOLATILE_CARD_FIELDS, fingerprint_dir, model_identity

__all__ = ["Cached", "RACY_S", "ResponseCache", "VOLATILE_CARD_FIELDS", "check_mode", "fingerprint_dir", "stored_answers",
           "model_identity", "parse_max_age", "request_json"]

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
    stat_key TEXT PRIMARY KEY,     -- sha256 of (path, size, mtime, ctime, inode) of every file of a directory
    sha256 TEXT NOT NULL           -- sha256 of the contents
);
CREATE TABLE IF NOT EXISTS batch_memory (
    batch_id TEXT PRIMARY KEY,     -- a stored batch of a group whose peak memory was measured
    peak_memory_bytes INTEGER NOT NULL,
    memory_method TEXT
);
"""



def parse_max_age(text: str | None, option: str = "--llm-cache-max-age") -> float | None:
    """``"90s"``, ``"30m"``, ``"12h"``, ``"7d"`` or a number of seconds -> seconds; empty -> None
    (answers of any age are served). A SpecError names the option and the value otherwise."""
    raw = (text or "").strip().lower()
    if not raw:
        return None
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(raw[-1])
    number = raw[:-1] if unit else raw
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        raise SpecError(f"{option} must be a duration such as 3600, 90s, 30m, 12h or 7d, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise SpecError(f"{option} must be a positive duration, got {text!r}")
    return value


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
    # The peak memory of the group that computed it (None: not measured, or stored before it was kept).
    peak_memory_bytes: int | None = None
    memory_method: str | None = None
    created: float | None = None  # unix time it was stored


def stored_answers(path: Path) -> int:
    """How many answers the cache file at ``path`` holds now, read-only (a run writing it at the
    same time is not disturbed); 0 while the file does not exist or cannot be read yet."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0


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
        # Served answers are stored from the backend's thread: one statement sequence at a time.
        self._lock = threading.RLock()
        if not self.writable:
            try:
                self._db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                # A WAL file read-only needs its -shm file, which a read-only disk cannot hold:
                # nothing writes there, so the file can be read as immutable.
                self._db.close()
                self._db = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None,
                                           check_same_thread=False)
                self._db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
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

    def get_many(self, model_key: str, requests: Iterable[Request], *,
                 max_age_s: float | None = None) -> dict[Request, Cached]:
        """The cached results among ``requests`` (distinct requests; missing ones are absent);
        with ``max_age_s``, results stored longer ago than that count as missing."""
        with self._lock:
            return self._get_many(model_key, requests, max_age_s)

    def _get_many(self, model_key: str, requests: Iterable[Request], max_age_s: float | None) -> dict[Request, Cached]:
        wanted = {self._key(model_key, r): r for r in dict.fromkeys(requests)}
        found: dict[Request, Cached] = {}
        keys = list(wanted)
        oldest = -1.0 if max_age_s is None else time.time() - max_age_s
        for i in range(0, len(keys), 500):  # SQLite's limit on bound parameters
            chunk = keys[i:i + 500]
            rows = self._db.execute(
                f"SELECT key, result, batch_id, batch_seconds, batch_size, created FROM results "
                f"WHERE key IN ({','.join('?' * len(chunk))}) AND created >= ?", [*chunk, oldest]).fetchall()
            for key, result, batch_id, seconds, size, created in rows:
                found[wanted[key]] = Cached(result_from_json(result), batch_id, seconds, size, created=created)
        factors = self._round_factors({c.batch_id for c in found.values()})
        if factors:
            found = {r: dataclasses.replace(c, round_factors=factors.get(c.batch_id)) for r, c in found.items()}
        memory = self._memory({c.batch_id for c in found.values()})
        if memory:
            found = {r: dataclasses.replace(c, peak_memory_bytes=memory[c.batch_id][0],
                                            memory_method=memory[c.batch_id][1])
                     if c.batch_id in memory else c for r, c in found.items()}
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

    def _memory(self, batch_ids: set[str]) -> dict[str, tuple[int, str | None]]:
        out: dict[str, tuple[int, str | None]] = {}
        ids = sorted(batch_ids)
        try:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                for batch_id, peak, method in self._db.execute(
                        f"SELECT batch_id, peak_memory_bytes, memory_method FROM batch_memory WHERE batch_id IN "
                        f"({','.join('?' * len(chunk))})", chunk):
                    out[batch_id] = (int(peak), method)
        except sqlite3.OperationalError:  # a read-only cache from before peak memory was kept
            return {}
        return out

    def put_memory(self, batch_ids: Sequence[str], peak_memory_bytes: int | None, method: str | None) -> None:
        """Keep the peak memory of the group that computed these batches."""
        if not self.writable or not batch_ids or peak_memory_bytes is None:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO batch_memory VALUES (?, ?, ?)",
                                 [(b, int(peak_memory_bytes), method) for b in batch_ids])

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
                  pairs: Sequence[tuple[Request, Result]], seconds: float, *,
                  replace_before: float | None = None,
                  supersede: Sequence[tuple[Request, str]] = ()) -> str | None:
        """Store one computed batch in one transaction: all of it or (killed first) none of it.
        A result already stored keeps its first measurement, unless it was stored before the
        unix time ``replace_before`` (an answer too old to trust, sent again) or is one of the
        ``supersede`` (request, batch id) pairs (an answer stored alone as it arrived, now part
        of this batch). Returns the batch's id (None when nothing was stored)."""
        if not self.writable or not pairs:
            return None
        now, batch_id = time.time(), uuid.uuid4().hex
        rows = [(self._key(model_key, req), model_key, request_json(req), result_json(res), batch_id,
                 float(seconds), len(pairs), now, now) for req, res in pairs]
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR IGNORE INTO models VALUES (?, ?, ?)", (model_key, label, _canonical(identity)))
            if supersede:
                self._db.executemany("DELETE FROM results WHERE key = ? AND batch_id = ?",
                                     [(self._key(model_key, req), old) for req, old in supersede])
            # A result computed again (another benchmark round, a concurrent job) keeps its first measurement.
            if replace_before is not None:
                self._db.executemany("DELETE FROM results WHERE key = ? AND created < ?",
                                     [(row[0], replace_before) for row in rows])
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
            self._db.execute("DELETE FROM batch_memory WHERE batch_id NOT IN (SELECT DISTINCT batch_id FROM results)")
        self._db.execute("VACUUM")
        return deleted
