//! The one reading of a `Cookie` header lives in `portcullis_wire::cookie`,
//! so the fuzz targets link it without the core.
pub use portcullis_wire::cookie::*;
