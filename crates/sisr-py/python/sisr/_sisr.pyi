"""Type stubs of the compiled module (see the docstrings of ``sisr``)."""

from os import PathLike
from typing import Any, Dict, List, Optional, Union

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[Union[np.uint8, np.uint16, np.float32, np.float64]]
Path = Union[str, "PathLike[str]"]

__version__: str

def imresize(img: Image, scale: float) -> Image:
    """MATLAB ``imresize(img, scale, 'bicubic')``: bit-exact for uint8, double precision for floats (same dtype out); output side ``ceil(side * scale)``."""

def modcrop(img: Image, s: int) -> Image:
    """Crop height and width down to multiples of ``s``."""

def rgb2ycbcr(img: Image) -> Image:
    """MATLAB ``rgb2ycbcr`` (BT.601, studio range), HxWx3, same dtype."""

def ycbcr2rgb(img: Image) -> Image:
    """MATLAB ``ycbcr2rgb``, HxWx3, same dtype."""

def psnr(sr: Image, hr: Image, scale: int, protocol: str = "y") -> float:
    """PSNR (dB) as ``sisr eval``: uint8 grid, the protocol's Y (``y``, ``rgb``/``p1``, ``p2``), ``scale`` pixels shaved; ``inf`` for identical images."""

def ssim(sr: Image, hr: Image, scale: int, protocol: str = "y") -> float:
    """SSIM (Wang's ``ssim_index``) with the conventions of :func:`psnr`."""

def degrade(hr: Image, scale: int) -> Image:
    """The benchmark LR of a uint8 HR image: mod-crop, then MATLAB bicubic ``imresize(., 1/scale)``."""

def imread(path: Path) -> Image:
    """Decode a file as the ``sisr`` command does: uint8 or uint16, HxW (gray) or HxWxC."""

def imwrite(path: Path, img: Image) -> None:
    """Encode and write atomically as the ``sisr`` command does; the format follows the extension."""

def models() -> List[Dict[str, Any]]:
    """The shipped models, one dict per model and scale (as ``sisr models --json``)."""

def evaluate(
    model: str,
    dataset_dir: Path,
    scale: int,
    protocol: Optional[str] = None,
    weights: Optional[Path] = None,
    ensemble: bool = False,
) -> Dict[str, Any]:
    """Score a model on a folder of HR images as ``sisr eval --json``: mean ``psnr``/``ssim`` and per-image ``images``."""

def set_num_threads(n: int) -> None:
    """Compute threads for every later call (default: all cores)."""

class Upscaler:
    """A shipped model by name, trained ``weights``, or ``"bicubic"``; ``upscale`` equals ``sisr upscale``."""

    def __init__(
        self,
        model: Optional[str] = None,
        scale: Optional[int] = None,
        weights: Optional[Path] = None,
        tile: int = 256,
        ensemble: bool = False,
        precision: str = "f32",
    ) -> None: ...
    @property
    def scale(self) -> int: ...
    def upscale(self, img: Image) -> Image:
        """The upscaled image, same layout and dtype as ``img``."""
