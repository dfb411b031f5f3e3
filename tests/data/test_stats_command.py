"""``python -m detector.data.stats`` on the real sample page."""
from __future__ import annotations

from detector.data.stats import main


def test_stats_of_the_sample_folder(dsv2_sample_dir, capsys):
    # when the command runs on the dataset folder with the default stage2 filter
    assert main([str(dsv2_sample_dir)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    # then counts before/after the filter and the box sizes per class are printed
    assert rows["stem"][1:3] == ["149", "0"] and rows["ledgerLine"][1:3] == ["25", "0"]
    assert rows["noteheadBlackInSpace"][1:3] == ["67", "67"]
    assert rows["total"][1:3] == ["547", "343"]
    assert rows["noteheadBlackInSpace"][3] == "29.8"  # median width, page pixels
    assert rows["noteheadBlackInSpace"][6] == "24.8"  # median height
    assert "skipped/fixed by the reader: nothing" in out


def test_stats_user_mistakes_are_one_line(tmp_path, dsv2_sample_json, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert main([str(dsv2_sample_json), "--classes", "noteheadBlak"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "noteheadBlack" in err[1]
