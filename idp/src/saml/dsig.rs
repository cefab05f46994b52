//! The signature-reference checker lives in `portcullis_wire::saml::dsig`,
//! so the fuzz targets link it without the core.
pub use portcullis_wire::saml::dsig::*;
