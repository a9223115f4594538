//! The library part of the `sisr` command: what its fuzz targets reach.

pub mod plan;
pub mod shard;
