"""Each atheris harness under fuzz/ runs a fixed number of inputs from its seeds without a crash.

A short, seeded run (``make fuzz`` runs them long): proves the harnesses start, load their seed
corpus, see coverage and execute every requested run, so a broken harness cannot pass vacuously.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "fuzz"
RUNS = 3000
HARNESSES = ["ged188_decoder", "rest_xml"]


def test_every_harness_with_a_corpus_is_tested() -> None:
    with_corpus = sorted(p.stem for p in FUZZ.glob("*.py") if (FUZZ / "corpus" / p.stem).is_dir())
    assert with_corpus == HARNESSES


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", HARNESSES)
def test_harness_runs_clean(name: str, tmp_path: Path) -> None:
    corpus = FUZZ / "corpus" / name
    seeds = len(list(corpus.iterdir()))
    assert seeds > 0
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            str(FUZZ / f"{name}.py"),
            f"-runs={RUNS}",
            "-seed=1",
            "-timeout=25",
            f"-artifact_prefix={tmp_path}/",
            str(work),
            str(corpus),
        ],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=50,
        check=False,
        cwd=ROOT,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert re.search(rf"^Done {RUNS} runs in ", out, re.MULTILINE), out[-4000:]
    assert f"{seeds} files found in {corpus}" in out
    inited = re.search(r"INITED cov: (\d+)", out)
    assert inited is not None and int(inited.group(1)) > 0, "no coverage: the target is not instrumented"
    assert not [p for p in tmp_path.iterdir() if p.name != "work"], "libFuzzer wrote an artifact"
    # The committed seeds are untouched: new inputs went to the scratch directory.
    assert len(list(corpus.iterdir())) == seeds
