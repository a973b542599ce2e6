"""Bad input caught before any model loads (issue 15, points 7 and 12): one ERROR line, exit 4."""

from __future__ import annotations

import pytest
from suitekit import ONE_TEST_SUITE as SUITE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--llm-candidates="], "*--llm-candidates is empty ('')*name at least one candidate*"),
        (["--llm-candidates=,"], "*--llm-candidates is empty (',')*"),
        (["--llm-candidates=tiny"], "*'tiny' names a reference zoo model without its prefix: did you mean zoo:tiny?*"),
        (["--llm-candidates=" + "a" * 5000], "*candidate spec 'aaaa*...' is not a usable path or model id*"),
        (["--llm-candidates=zoo:tiny", "--llm-device=gpu"], "*--llm-device must be cpu, cuda, cuda:N or mps, got 'gpu'*"),
        (["--llm-candidates=zoo:tiny", "--llm-errors=ignore"], "*--llm-errors must be one of worst, exclude*"),
    ],
)
def test_bad_input_is_one_usage_error_line(pytester, args, message):
    pytester.makepyfile(test_t=SUITE)
    result = pytester.runpytest_inprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert len(result.stderr.str().strip().splitlines()) == 1


def test_nul_byte_in_a_candidates_file_is_one_line(pytester):
    pytester.makepyfile(test_t=SUITE)
    (pytester.path / "cands.toml").write_bytes(b'[[candidate]]\nspec = "zoo:tiny\\u0000x"\n')
    result = pytester.runpytest_inprocess("--llm-candidates=@cands.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *contains a control character*"])


def test_hub_id_offline_and_not_cached_fails_before_loading(pytester, monkeypatch):
    pytester.makepyfile(test_t=SUITE)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(pytester.path / "empty-cache"))  # nothing is cached there
    result = pytester.runpytest_subprocess("--llm-candidates=someorg/not-cached-model")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: someorg/not-cached-model: not in the local Hugging Face cache, "
                                 "and the hub is switched off*"])


def test_cuda_device_without_cuda_is_one_line(pytester):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    pytester.makepyfile(test_t=SUITE)
    result = pytester.runpytest_subprocess("--llm-candidates=zoo:tiny", "--llm-device=cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --llm-device: device 'cuda' was requested but CUDA is not available*"])


def test_gate_that_evaluated_nothing_fails(pytester):
    from pytest_llmselect.report.jsonio import write_report
    from tests.report_samples import sample_report

    pytester.makepyfile(test_t=SUITE)
    write_report(sample_report(), pytester.path / "base.json")
    result = pytester.runpytest_inprocess("--llm-candidates=zoo:tiny", "-k", "nothing_matches",
                                          "--llm-baseline=base.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*ERROR this run evaluated no case, so there is nothing to gate*"])
