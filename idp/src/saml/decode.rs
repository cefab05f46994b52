//! The SAML transport decoders and the DTD-refusing reader live in
//! `portcullis_wire::saml::decode` (with [`screen`], **the** screen every
//! SAML input passes), so the fuzz targets link them without the core.
pub use portcullis_wire::saml::decode::*;
