//! Every route path lives in `portcullis_wire::paths` (one list), because
//! `return_to` checking, which the fuzz targets link, needs them.
pub use portcullis_wire::paths::*;
