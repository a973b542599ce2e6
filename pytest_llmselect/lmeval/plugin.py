"""The hooks behind ``lmeval_suite``: the data-mapping option, and one case per document at collection.

Importing this module is cheap: the task files are read by ``lmeval_suite`` and the data
only when a suite file that uses it is collected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ATTRIBUTE = "_llmselect_lmeval"  # on a test function made by lmeval_suite: its ImportedTask
OPTION = "--llm-lmeval-data"
INI = "llm_lmeval_data"
HELP = ("lm-eval task data offline: 'DATASET [CONFIG] SPLIT = FILE' (a Hub dataset's split read from a local "
        ".jsonl/.json/.csv/.parquet file instead); repeatable")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmselect", "pytest-llmselect: evaluate and select language models")
    group.addoption(OPTION, action="append", default=[], dest="llm_lmeval_data", metavar="MAPPING",
                    help=HELP + f" (default: none) [ini: {INI}]")
    parser.addini(INI, HELP + " (one per line, relative FILE from the ini file's folder)", type="linelist",
                  default=[])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    imported = getattr(metafunc.function, ATTRIBUTE, None)
    if imported is None:
        return
    from pytest_llmselect.lmeval.docs import parse_mapping
    from pytest_llmselect.lmeval.yamlfile import LmevalError

    config = metafunc.config
    try:
        base = Path(config.inipath).parent if config.inipath else config.rootpath
        mapping = parse_mapping(config.getini(INI), base, INI)
        mapping.update(parse_mapping(config.getoption("llm_lmeval_data") or [], config.invocation_params.dir, OPTION))
        cases = imported.build(mapping)
    except LmevalError as exc:
        pytest.fail(str(exc), pytrace=False)
    # The mark goes on now, before pytest makes the items: the demonstration pool (if any) needs the data
    if not any(m.name == "llm_task" for m in getattr(metafunc.function, "pytestmark", [])):
        imported.mark()(metafunc.function)
    metafunc.parametrize("case", cases, ids=[str(c.doc_id) for c in cases])
