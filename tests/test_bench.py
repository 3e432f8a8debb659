"""`python -m devtools.bench load`: runs end to end on a tiny archive and reports every row."""

from __future__ import annotations

import numpy as np
import pytest
from trees import make_ph2_tree

from devtools.bench.__main__ import main
from devtools.bench.load import naive_load_ph2


def test_bench_needs_a_benchmark_name(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2 and "load" in capsys.readouterr().err


def test_naive_baseline_loads_the_same_cases_as_floats(tmp_path):
    archive = make_ph2_tree(tmp_path, 3)
    images, masks = naive_load_ph2(archive, (16, 16))
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.float64
    assert masks.shape == (3, 16, 16) and 0 < masks.mean() < 1


def test_bench_load_prints_times_memory_ratios_and_verdicts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEGCOURSE_CACHE", str(tmp_path / "cache"))
    archive = make_ph2_tree(tmp_path, 4)
    status = main(["load", "--root", str(archive), "--repeat", "1", "--size", "16"])
    out = capsys.readouterr().out
    assert status in (0, 1)  # tiny data: process start-up dominates, targets may be missed
    assert "4 PH2-layout cases (given root" in out
    for row in ("naive baseline", "load_ph2 cold", "load_ph2 warm", "agreement with the baseline"):
        assert row in out
    assert out.count(">=15x") == 1 and out.count(">=200x") == 1
    assert ("all targets met" in out) == (status == 0)
