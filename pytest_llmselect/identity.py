"""What makes two loaded models answer alike: the identity the response cache keys a model by.

See ``cache.py``'s docstring for the rules: a local directory by the contents of its files
(remembered against their size, mtime, ctime and inode, never for a file changed within
``RACY_S`` seconds of its hashing), a hub model by its commit, a served model by what its
server reports less the fields that change from request to request.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Mapping, Protocol

__all__ = ["RACY_S", "VOLATILE_CARD_FIELDS", "FingerprintMemo", "fingerprint_dir", "model_identity"]

# Fields of a served model's card that differ from one request to the next.
VOLATILE_CARD_FIELDS = frozenset({"created", "permission"})
# A file changed this close to (or after) the moment it was hashed may change again within the
# same timestamp: its digest is not remembered (git's "racily clean" rule).
RACY_S = 2.0


class FingerprintMemo(Protocol):
    """Where digests of directories are remembered (the response cache)."""

    def fingerprint(self, stat_key: str) -> str | None: ...

    def remember_fingerprint(self, stat_key: str, digest: str) -> None: ...


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=list)


def _files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # .cache, .git: not the model
        out.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return out


def fingerprint_dir(root: str | os.PathLike[str], memo: FingerprintMemo | None = None) -> str:
    """SHA-256 of the relative path and contents of every file under ``root`` (hidden ones excepted).

    With ``memo``, a directory whose files all have the same size, mtime, ctime and inode as
    when last hashed is not read again; a digest is remembered only when every file was last
    changed more than ``RACY_S`` seconds before it was hashed (see the module docstring)."""
    base = Path(root)
    files = _files(base)
    stat_key = None
    racy = True
    if memo is not None:
        started = time.time()
        stats = [(f.relative_to(base).as_posix(), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                 for f in files for st in [f.stat()]]
        stat_key = _sha256(_canonical([str(base.resolve()), stats]))
        latest = max((max(s[2], s[3]) for s in stats), default=0) / 1e9
        racy = latest > started - RACY_S
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
    if memo is not None and stat_key is not None and not racy:
        memo.remember_fingerprint(stat_key, digest)
    return digest


def model_identity(source: str, extra: Mapping[str, Any], *, dtype: str, device: str,
                   memo: FingerprintMemo | None = None) -> dict[str, Any] | None:
    """What makes two loaded models answer alike (see the module docstring); ``None`` when the
    model cannot be identified (a hub model whose commit is unknown): it is then not cached."""
    if "identity" in extra:  # served models: the backend knows best, less what changes per request
        served = extra["identity"]
        if isinstance(served, Mapping):
            served = {k: v for k, v in served.items() if k not in VOLATILE_CARD_FIELDS}
        base: dict[str, Any] = {"served": served}
    elif os.path.isdir(source):
        base = {"files_sha256": fingerprint_dir(source, memo)}
    elif extra.get("commit"):
        base = {"hub": source, "commit": extra["commit"]}
    else:
        return None
    return {**base, "backend": extra.get("backend", "hf"), "implementation": extra.get("implementation"),
            "dtype": dtype, "device_type": device.split(":")[0]}
