"""Repository-wide test configuration.

The reference models are trained once into a cache keyed by their recipe. pytester
points HOME at a temporary directory for every inner run, so pin the cache to the
real user cache here (inherited by inner runs) unless the caller chose one.
"""

import os
from pathlib import Path

pytest_plugins = ["pytester"]

if "LLMSELECT_CACHE_DIR" not in os.environ:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    os.environ["LLMSELECT_CACHE_DIR"] = str(Path(base) / "pytest-llmselect")

try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # hypothesis is a test extra; suites run without it
    pass
else:
    # No per-example deadline: a shared 2-core machine makes timing-based failures flaky.
    # On CI, derandomize so a run is reproducible; locally, keep exploring new examples.
    _hypothesis_settings.register_profile("llmselect", deadline=None, print_blob=True,
                                          derandomize=bool(os.environ.get("CI")))
    # Under mutmut (`tox -e mutation`) one process runs each test many times, once per mutant:
    # derandomized so a mutant's verdict is reproducible, and fewer examples so it finishes.
    from hypothesis import HealthCheck as _HealthCheck

    _mutation = bool(os.environ.get("LLMSELECT_MUTATION") or os.environ.get("MUTANT_UNDER_TEST"))

    _hypothesis_settings.register_profile("llmselect-mutation", deadline=None, derandomize=True,
                                          max_examples=10, database=None,
                                          suppress_health_check=[_HealthCheck.differing_executors])
    _hypothesis_settings.load_profile("llmselect-mutation" if _mutation else "llmselect")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_xdist_worker_env(monkeypatch):
    """Inner pytest runs must not believe they are xdist workers when the outer run uses ``-n``:
    pytest-benchmark reads PYTEST_XDIST_WORKER from the environment and switches itself off."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
