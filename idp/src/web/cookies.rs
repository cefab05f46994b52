//! Cookie names and attributes live in `portcullis_wire::cookies`, beside
//! the `Cookie` reader, so the fuzz targets link them without the core.
pub use portcullis_wire::cookies::*;
