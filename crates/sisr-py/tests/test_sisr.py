"""The Python package against MATLAB's files, the papers' numbers and the sisr command."""

import math
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import sisr

ROOT = Path(__file__).resolve().parents[3]


def shared_data() -> Path:
    data = Path(os.environ.get("SISR_DATA", ROOT.parent / "shared" / "data"))
    if not data.is_dir():
        if os.environ.get("SISR_REQUIRE_DATA") == "1":
            pytest.fail(f"shared data not found at {data} and SISR_REQUIRE_DATA=1")
        pytest.skip(f"shared data not found at {data} (set SISR_DATA)")
    return data


def sisr_binary() -> Path:
    binary = Path(os.environ.get("SISR_BIN", ROOT / "target" / "release" / "sisr"))
    if not binary.is_file():
        pytest.fail(f"the sisr command is not built at {binary} (cargo build --release, or set SISR_BIN)")
    return binary


def images(folder: Path):
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".bmp", ".jpg", ".tif"})


def test_imresize_reproduces_every_lr_matlab_file():
    data = shared_data()
    compared = 0
    for dataset in ["set5", "set14", "b100"]:
        for scale in [2, 3, 4]:
            for hr_path in images(data / "eval" / dataset):
                hr = sisr.imread(hr_path)
                lr = sisr.imresize(sisr.modcrop(hr, scale), 1 / scale)
                expected = sisr.imread(data / "lr_matlab" / dataset / f"x{scale}" / hr_path.name)
                if lr.ndim == 2 and expected.ndim == 3:  # gray HR, LR stored as RGB
                    lr = np.repeat(lr[:, :, None], 3, axis=2)
                assert lr.dtype == np.uint8 and lr.shape == expected.shape, hr_path
                assert np.array_equal(lr, expected), f"{dataset} x{scale} {hr_path.name}: {np.count_nonzero(lr != expected)} values differ"
                degraded = sisr.degrade(hr, scale)
                assert np.array_equal(degraded.reshape(lr.shape[:2] + (-1,))[..., 0], lr.reshape(lr.shape[:2] + (-1,))[..., 0])
                compared += 1
    assert compared == 3 * (5 + 14 + 100)


@pytest.mark.parametrize("scale,expected", [(2, (33.66, 0.9299)), (3, (30.39, 0.8682)), (4, (28.42, 0.8104))])
def test_psnr_and_ssim_reproduce_the_set5_bicubic_rows(scale, expected):
    """The `y` protocol by hand: Y of the uint8 HR, bicubic down and up in double, scored on uint8."""
    data = shared_data()
    psnrs, ssims = [], []
    for hr_path in images(data / "eval" / "set5"):
        hr = sisr.modcrop(sisr.imread(hr_path), scale)
        y = sisr.rgb2ycbcr(hr)[:, :, 0]
        y01 = y.astype(np.float64) / 255
        sr = sisr.imresize(sisr.imresize(y01, 1 / scale), scale)
        assert sr.dtype == np.float64 and sr.shape == y.shape
        psnrs.append(sisr.psnr(sr, y, scale=scale))
        ssims.append(sisr.ssim(sr, y, scale=scale))
    assert (round(float(np.mean(psnrs)), 2), round(float(np.mean(ssims)), 4)) == expected


def test_psnr_and_ssim_reproduce_rcans_published_scores():
    """RCAN's Set5 outputs scored with P1 (`rgb`) give RCAN's own per-image numbers."""
    data = shared_data()
    root = data / "reference" / "rcan"
    line = re.compile(r"^x(\d+) \d+ (\w+)_RCAN_x\d+\.png: PSNR= ([\d.]+) SSIM= ([\d.]+)")
    checked = 0
    for text in (root / "PSNR_SSIM_Results_BI_model.txt").read_text().splitlines():
        m = line.match(text)
        if not m:
            continue
        scale, name, want_psnr, want_ssim = int(m.group(1)), m.group(2), float(m.group(3)), float(m.group(4))
        sr = sisr.imread(root / "set5" / f"x{scale}" / f"{name}.png")
        hr = sisr.modcrop(sisr.imread(data / "eval" / "set5" / f"{name}.png"), scale)
        assert abs(sisr.psnr(sr, hr, scale=scale, protocol="rgb") - want_psnr) < 1e-4, (name, scale)
        assert abs(sisr.ssim(sr, hr, scale=scale, protocol="rgb") - want_ssim) < 1e-5, (name, scale)
        checked += 1
    assert checked == 20, checked


def test_upscaler_equals_the_command_byte_for_byte(tmp_path):
    rng = np.random.default_rng(1)
    base = (np.linspace(0, 1, 37)[None, :, None] * np.linspace(0, 1, 29)[:, None, None] * 200).astype(np.uint8)
    img = np.clip(base + rng.integers(0, 40, size=(29, 37, 3)), 0, 255).astype(np.uint8)
    src = tmp_path / "in.png"
    sisr.imwrite(src, img)
    assert np.array_equal(sisr.imread(src), img)
    for model, scale in [("dcscn", 2), ("dcscn-compact", 3)]:
        cli_out = tmp_path / f"cli-{model}-{scale}.png"
        subprocess.run([str(sisr_binary()), "upscale", str(src), "--model", model, "--scale", str(scale), "-o", str(cli_out)], check=True, capture_output=True)
        ours = sisr.Upscaler(model, scale).upscale(sisr.imread(src))
        assert ours.shape == (29 * scale, 37 * scale, 3) and ours.dtype == np.uint8
        assert np.array_equal(ours, sisr.imread(cli_out)), model
        py_out = tmp_path / f"py-{model}-{scale}.png"
        sisr.imwrite(py_out, ours)
        assert py_out.read_bytes() == cli_out.read_bytes(), model
    # 16-bit, alpha and float inputs keep their dtype and layout.
    rgba16 = (np.dstack([img, img[:, :, :1]]).astype(np.uint16) * 257)
    out16 = sisr.Upscaler("dcscn", 2).upscale(rgba16)
    assert out16.dtype == np.uint16 and out16.shape == (58, 74, 4)
    out_f = sisr.Upscaler("dcscn", 2).upscale(img.astype(np.float32) / 255)
    assert out_f.dtype == np.float32 and out_f.shape == (58, 74, 3)
    assert np.abs(out_f * 255 - sisr.Upscaler("dcscn", 2).upscale(img)).max() < 1.0
    # Reduced precision: the command's bytes too, and within a level or two of f32.
    cli_bf16 = tmp_path / "cli-bf16.png"
    subprocess.run([str(sisr_binary()), "upscale", str(src), "--model", "drn", "--scale", "2", "--precision", "bf16", "-o", str(cli_bf16)], check=True, capture_output=True)
    ours_bf16 = sisr.Upscaler("drn", 2, precision="bf16").upscale(img)
    assert np.array_equal(ours_bf16, sisr.imread(cli_bf16))
    assert np.abs(ours_bf16.astype(int) - sisr.Upscaler("drn", 2).upscale(img).astype(int)).max() <= 2
    with pytest.raises(ValueError, match="precision"):
        sisr.Upscaler("dcscn", 2, precision="fp8")


def test_evaluate_the_dcscn_authors_weights():
    data = shared_data()
    r = sisr.evaluate("dcscn", data / "eval" / "set5", 2, weights=data / "weights" / "dcscn_paper_x2.safetensors")
    assert (round(r["psnr"], 2), round(r["ssim"], 4)) == (37.56, 0.9585)
    assert r["protocol"] == "y" and len(r["images"]) == 5


def test_models_lists_the_shipped_models_with_scores():
    listed = sisr.models()
    assert {(m["model"], m["scale"]) for m in listed} >= {("dcscn", 2), ("dcscn", 3), ("dcscn", 4)}
    for m in listed:
        assert m["params"] > 0 and set(m["scores"]) == {"set5", "set14", "b100"}
    assert any(m["most_accurate"] for m in listed if m["scale"] == 2)


def test_identical_images_give_infinite_psnr():
    img = (np.arange(40 * 40) % 251).astype(np.uint8).reshape(40, 40)
    assert math.isinf(sisr.psnr(img, img, scale=2))
    assert sisr.ssim(img, img, scale=2) == pytest.approx(1.0)


def test_bad_arrays_raise_clear_exceptions(tmp_path):
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(TypeError, match="uint8, uint16, float32 or float64"):
        sisr.imresize(img.astype(np.int32), 2)
    with pytest.raises(TypeError):
        sisr.imresize([[1, 2], [3, 4]], 2)
    with pytest.raises(ValueError, match="shape"):
        sisr.imresize(np.zeros((2, 3, 4, 5), np.uint8), 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sisr.psnr(img.astype(np.float64) + 200, img, scale=2)
    with pytest.raises(ValueError, match="NaN"):
        sisr.imresize(np.full((8, 8), np.nan), 2)
    with pytest.raises(ValueError, match="modcrop"):
        sisr.psnr(img, np.zeros((33, 32, 3), np.uint8), scale=2)
    with pytest.raises(ValueError, match="protocol"):
        sisr.psnr(img, img, scale=2, protocol="lab")
    with pytest.raises(ValueError, match="unknown model"):
        sisr.Upscaler("srgan", 2)
    with pytest.raises(ValueError, match="no shipped model"):
        sisr.Upscaler("drn-plus", 2)
    with pytest.raises(FileNotFoundError):
        sisr.imread(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError):
        sisr.Upscaler(weights=tmp_path / "missing.safetensors")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="text.png"):
        sisr.imread(tmp_path / "text.png")
    with pytest.raises(ValueError, match="scale"):
        sisr.imresize(img, -1.0)
