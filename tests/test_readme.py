"""The README as a newcomer reads it: every Python snippet, pasted in order into one session."""

import pathlib
import re

import matplotlib
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_snippets():
    assert len(BLOCKS) >= 4


@pytest.mark.slow
def test_every_snippet_runs_in_order_in_one_session(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # files the snippets write land here
    session = {}
    for number, block in enumerate(BLOCKS):
        # the grid snippet's 10^9 points take minutes and an 8 GB file here: same code, 10^5
        code = block.replace("10**9", "10**5")
        exec(compile(code, f"README.md python block {number}", "exec"), session)
    assert str(session["f"].bind(digits=3).expr) == "2.0*x**2 - 1.0*x + 0.5"
    assert session["jc"].tangent(session["df"], at=1.0).line == session["jc"].parse("4*x")
    assert (tmp_path / "d.npy").exists()
