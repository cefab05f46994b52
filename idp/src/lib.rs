//! Portcullis identity core: the directory of users, groups and applications,
//! credentials, sessions, audit, and the portal pages that sit on top of them.
//!
//! Nothing here knows about the proxy; the `portcullis` binary embeds this
//! library and serves [`web::router`] for the portal host.
#![forbid(unsafe_code)]

pub mod access;
pub mod account;
pub mod admin;
pub mod audit;
pub mod clock;
pub mod config;
pub mod cookie;
pub mod credentials;
pub mod crypto;
pub mod directory;
pub mod error;
pub mod escape;
pub mod federation;
pub mod handoff;
pub mod health;
pub mod idp;
pub mod ldap;
pub mod mail;
pub mod mfa;
pub mod oidc;
pub mod password;
pub mod paths;
pub mod policy_hook;
pub mod redis_store;
pub mod request_path;
pub mod reset;
pub mod roles;
pub mod saml;
pub mod scim;
pub mod seed;
pub mod session;
pub mod settings;
pub mod sign_in;
pub mod store;
pub mod throttle;
pub mod web;

pub use config::IdpConfig;
pub use error::Error;
pub use idp::Idp;
