"""The Python examples of docs/python.md and of the README's "From Python"
section run as written (tests/docs.rs runs the shell blocks; these need
the package installed)."""

import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def python_blocks(text: str) -> list:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def readme_section() -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index("## From Python")
    end = readme.find("\n## ", start + 1)
    return readme[start:] if end < 0 else readme[start:end]


CASES = [("docs/python.md", b) for b in python_blocks((REPO / "docs" / "python.md").read_text())] + [
    ("README.md", b) for b in python_blocks(readme_section())
]


def test_there_are_examples_to_run():
    assert sum(1 for doc, _ in CASES if doc == "README.md") >= 1
    assert sum(1 for doc, _ in CASES if doc == "docs/python.md") >= 3


@pytest.mark.parametrize("doc, code", CASES, ids=[f"{d}-{i}" for i, (d, _) in enumerate(CASES)])
def test_the_example_runs_as_written(doc, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, doc, "exec"), {"__name__": "__example__"})
