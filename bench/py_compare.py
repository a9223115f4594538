#!/usr/bin/env python3
"""sisr's Python package against BasicSR's MATLAB-like functions, side by side in one run.

* imresize: the benchmark LR of every Set5/Set14/B100 image at x2/x3/x4 by
  `sisr.imresize` and by `basicsr.utils.matlab_functions.imresize` (on [0, 1] floats, then
  rounded to uint8, as BasicSR's scripts do), each compared with MATLAB's own files
  (`lr_matlab`), and timed.
* SSIM: RCAN's published Set5 outputs scored by `sisr.ssim(protocol="rgb")` and by
  `basicsr.metrics.calculate_ssim(test_y_channel=True)`, each compared with the SSIM that
  RCAN's MATLAB script printed, and timed (the same inputs, repeated).

Both sides get the same number of threads. Usage (BasicSR from PyPI `basicsr-fixed` 1.4.2,
with torch):

    python bench/py_compare.py --data ../shared/data --threads 2
"""

import argparse
import re
import time
from pathlib import Path

import numpy as np


def images(folder: Path):
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per side (the median is reported)")
    args = ap.parse_args()

    import cv2
    import torch
    import sisr
    from basicsr.metrics import calculate_ssim
    from basicsr.utils.matlab_functions import imresize as basicsr_imresize

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    sisr.set_num_threads(args.threads)
    data = args.data

    # --- imresize against MATLAB's LR files ---
    cases = []
    for dataset in ["set5", "set14", "b100"]:
        for scale in [2, 3, 4]:
            for hr_path in images(data / "eval" / dataset):
                hr = sisr.modcrop(sisr.imread(hr_path), scale)
                matlab = sisr.imread(data / "lr_matlab" / dataset / f"x{scale}" / hr_path.name)
                # Gray images (Set14 `bridge`) are compared as RGB on both sides.
                if hr.ndim == 2:
                    hr = np.repeat(hr[:, :, None], 3, axis=2)
                if matlab.ndim == 2:
                    matlab = np.repeat(matlab[:, :, None], 3, axis=2)
                cases.append((hr, scale, matlab))

    def run_sisr():
        return [sisr.imresize(hr, 1 / s) for hr, s, _ in cases]

    def run_basicsr():
        return [np.clip(np.round(basicsr_imresize(hr.astype(np.float64) / 255.0, 1 / s) * 255.0), 0, 255).astype(np.uint8) for hr, s, _ in cases]

    def timed(f):
        times, out = [], None
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = f()
            times.append(time.perf_counter() - t)
        return float(np.median(times)), out

    print(f"imresize: {len(cases)} LR images (Set5, Set14, B100 at x2/x3/x4), {args.threads} threads, median of {args.repeat}")
    t_sisr, ours = timed(run_sisr)
    t_basicsr, theirs = timed(run_basicsr)
    for name, outs, t in [("sisr.imresize", ours, t_sisr), ("basicsr imresize", theirs, t_basicsr)]:
        max_diff = max(int(np.abs(o.astype(np.int32) - m.astype(np.int32)).max()) for o, (_, _, m) in zip(outs, cases))
        differing = sum(int(np.count_nonzero(o != m)) for o, (_, _, m) in zip(outs, cases))
        total = sum(m.size for _, _, m in cases)
        print(f"  {name:<18} {t:8.3f} s   max |diff| to MATLAB {max_diff}, {differing} of {total} values differ")
    print(f"  sisr speed = basicsr time / sisr time = {t_basicsr / t_sisr:.2f}x")

    # --- SSIM against RCAN's MATLAB-printed values ---
    root = data / "reference" / "rcan"
    line = re.compile(r"^x(\d+) \d+ (\w+)_RCAN_x\d+\.png: PSNR= ([\d.]+) SSIM= ([\d.]+)")
    pairs = []
    for text in (root / "PSNR_SSIM_Results_BI_model.txt").read_text().splitlines():
        m = line.match(text)
        if m and int(m.group(1)) in (2, 3, 4):
            s, name = int(m.group(1)), m.group(2)
            sr = sisr.imread(root / "set5" / f"x{s}" / f"{name}.png")
            hr = sisr.modcrop(sisr.imread(data / "eval" / "set5" / f"{name}.png"), s)
            pairs.append((sr, hr, s, float(m.group(4))))
    t_sisr, ours = timed(lambda: [sisr.ssim(sr, hr, scale=s, protocol="rgb") for sr, hr, s, _ in pairs])
    t_basicsr, theirs = timed(lambda: [calculate_ssim(sr[:, :, ::-1], hr[:, :, ::-1], crop_border=s, input_order="HWC", test_y_channel=True) for sr, hr, s, _ in pairs])
    print(f"ssim: {len(pairs)} RCAN Set5 outputs (x2/x3/x4) against RCAN's MATLAB values, {args.threads} threads, median of {args.repeat}")
    for name, vals, t in [("sisr.ssim", ours, t_sisr), ("basicsr calculate_ssim", theirs, t_basicsr)]:
        diff = max(abs(v - want) for v, (_, _, _, want) in zip(vals, pairs))
        print(f"  {name:<22} {t:8.3f} s   max |diff| to MATLAB {diff:.2e} (printed to 1e-6)")
    print(f"  sisr speed = basicsr time / sisr time = {t_basicsr / t_sisr:.2f}x")


if __name__ == "__main__":
    main()
