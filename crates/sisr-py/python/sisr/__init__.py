"""sisr: single-image super-resolution over NumPy.

MATLAB-exact ``imresize`` (bicubic), BT.601 colour conversion, and PSNR/SSIM computed exactly
as the papers' tables (``sisr eval``), plus the shipped DCSCN, DRN, DRFN and GLRL models.

Arrays are HxW or HxWxC (C = 1, 2, 3 or 4). uint8 and uint16 are taken as stored;
float32/float64 are on [0, 1] (MATLAB ``im2double``, PyTorch tensors) and come back in the
same dtype. Every function runs the same Rust code as the ``sisr`` command, so results are
identical to it; errors are ``ValueError``/``TypeError``/``FileNotFoundError``/``OSError``
with the command's messages.
"""

from ._sisr import (
    Upscaler,
    __version__,
    degrade,
    evaluate,
    imread,
    imresize,
    imwrite,
    models,
    modcrop,
    psnr,
    rgb2ycbcr,
    set_num_threads,
    ssim,
    ycbcr2rgb,
)

__all__ = [
    "Upscaler",
    "degrade",
    "evaluate",
    "imread",
    "imresize",
    "imwrite",
    "models",
    "modcrop",
    "psnr",
    "rgb2ycbcr",
    "set_num_threads",
    "ssim",
    "ycbcr2rgb",
]
