"""benchmarks/exposure_sweep.py: the night input's own scores move with the exposure as the physics says,
print is judged on the swept frames, and bad arguments get one error line."""
from __future__ import annotations

import numpy as np

from benchmarks.exposure_sweep import main, score, table
from export.print_render import render_print


def test_the_night_input_holds_more_of_the_frame_as_the_exposure_rises():
    rng = np.random.default_rng(0)
    base = (rng.random((36, 48, 3)) * 160 + 40).astype(np.uint8)
    still = np.kron(base, np.ones((16, 16, 1), np.uint8))  # 576x768: smooth areas and edges, like a scene
    scenes = [render_print(still, 0)]
    cells = [score(lambda night: night, {"s": still}, scenes, "dusk_led", e) for e in (0.03, 0.25, 0.8)]
    gt_means = [c["gt_mean_psnr"] for c in cells]
    assert gt_means[0] < gt_means[1] < gt_means[2]  # less shot noise relative to the signal
    assert cells[0]["psnr"] < cells[2]["psnr"]  # and nearer the normal exposure
    assert all(c["print_targets"] == 9 for c in cells)
    assert cells[2]["print_read"] > cells[0]["print_read"]  # Tesseract reads the brighter, cleaner plates
    result = {"exposures": [0.03, 0.25, 0.8], "stills": 1, "print_targets": 9, "machine": "test",
              "command": "x", "conditions": {"dusk_led": {"night input": cells}}}
    assert "| night input | " in table(result) and f"{cells[2]['print_read']} ({cells[2]['print_wrong']})" in table(result)


def test_bad_arguments_get_one_error_line(tmp_path, capsys):
    assert main(["--exposures", "0.1", "1.5"]) == 2
    assert capsys.readouterr().err.strip() == "error: --exposures [1.5]: allowed fractions of a normal exposure in (0, 1]"
    assert main(["--checkpoint", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.pt: not found" in err
