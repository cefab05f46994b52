//! The SAML messages this IdP receives are read in
//! `portcullis_wire::saml::message` (re-exported here, so the fuzz targets
//! link the readers without the core); the helpers for the ones it writes
//! that need the core's randomness or escaper are here.

pub use portcullis_wire::saml::message::*;

/// A fresh message ID: an xs:ID (NCName) with 160 random bits (SAML core 1.3.4).
pub fn new_id() -> String {
    format!("_{}", hex::encode(crate::crypto::random_bytes::<20>()))
}

/// Text and attribute escaping for the XML this IdP writes.
pub use crate::escape::markup as esc;
