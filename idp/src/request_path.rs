//! The path rule lives in `portcullis_wire::request_path` (its one copy, with
//! its tests), so the fuzz targets link it without the core.
pub use portcullis_wire::request_path::*;
