//! The DN reader lives in `portcullis_wire::dn`, so the fuzz targets link it
//! without the core.
pub use portcullis_wire::dn::*;
