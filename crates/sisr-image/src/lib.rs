//! Imaging core of sisr: everything the papers' evaluation protocol needs, with no
//! deep-learning dependency.
//!
//! * [`io`]: decoding under explicit limits (bit depth, alpha, EXIF orientation, ICC kept),
//!   atomic encoding.
//! * [`color`]: ITU-R BT.601 RGB <-> YCbCr exactly as MATLAB `rgb2ycbcr` / `ycbcr2rgb`.
//! * [`resize`]: MATLAB-exact `imresize(..., 'bicubic')` and `modcrop`.
//! * [`metrics`]: PSNR and SSIM (Wang's `ssim_index`) with a border shave.
//! * [`protocol`]: the papers' evaluation protocols ("y", "rgb" = P1, "p2").

pub mod color;
pub mod io;
pub mod metrics;
pub mod pause;
pub mod plane;
pub mod protocol;
pub mod resize;

pub use io::{DecodeLimits, Image, ImageIoError, Layout, OutputFormat, Samples};
pub use plane::Plane;
pub use protocol::Protocol;
