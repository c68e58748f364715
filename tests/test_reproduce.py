"""Data stage (``pytest -m slow``, run by CI): the published tables, reproduced end to end.

These run the real harness on the four redistributable test sets. They are slow on a CPU, which is why
they form their own CI stage rather than being skipped.
"""

import pandas as pd
import pytest
from click.testing import CliRunner

from benchmark.cards import load_cards
from benchmark.cli import main
from benchmark.compare import attach_published

pytestmark = pytest.mark.slow

SETS = "Set5,Set14,B100,Urban100"


def test_bicubic_table_reproduces_under_gray_y(data_root, tmp_path):
    res = CliRunner().invoke(main, ["run", "--models", "bicubic", "--scale", "2,3,4", "--gray", "y",
                                    "--datasets", SETS, "--data-root", str(data_root),
                                    "--results", str(tmp_path), "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    s = attach_published(pd.read_parquet(tmp_path / "summary.parquet"), load_cards(tmp_path))
    assert len(s) == 12 and s["pub_psnr"].notna().all()
    bad = s[(s["d_psnr"].abs() > 0.03) | (s["d_ssim"].abs() > 0.002)]
    assert bad.empty, bad[["dataset", "scale", "psnr", "pub_psnr", "ssim", "pub_ssim"]].to_string()
    # PROTOCOL's check values from an independent implementation, x4
    x4 = s[s["scale"] == 4].set_index("dataset")
    for ds, (p, q) in {"Set5": (28.431, 0.8113), "Set14": (25.997, 0.7031), "B100": (25.963, 0.6682),
                       "Urban100": (23.142, 0.6582)}.items():
        assert x4.loc[ds, "psnr"] == pytest.approx(p, abs=0.0015)
        assert x4.loc[ds, "ssim"] == pytest.approx(q, abs=0.0001)
