//! The readers of what arrives from the network, as pure functions: the
//! gateway's path rule, the `Cookie` header, form parameters, `return_to`
//! targets, SAML messages and their signature references, LDAP DNs.
//!
//! This crate holds the only copy of each; `idp` re-exports every module
//! under its old name (`idp::request_path`, `idp::cookie`, `idp::paths`,
//! `idp::web::return_to`, `idp::oidc::wire` (the `Params` of [`form`]), `idp::ldap::dn`,
//! `idp::saml::{decode, dsig, wire}`), so callers do not change. It exists so
//! that the fuzz targets (`fuzz/`) can link these parsers without the rest
//! of the identity core: a cold instrumented build of `idp` takes longer
//! than CI can give it.

pub mod cookie;
pub mod cookies;
pub mod dn;
pub mod form;
pub mod jws;
pub mod paths;
pub mod request_path;
pub mod return_to;
pub mod saml;
pub mod scim;
