//! The `portcullis` gateway: configuration and policy files, the pingora
//! proxy in front of the applications, the accept loop, TLS, metrics and
//! the admin CLI, over the identity core (`idp`). The binary (`main.rs`)
//! parses the command line and calls in; the fuzz targets link this library
//! for the policy loader.
#![forbid(unsafe_code)]

pub mod admin;
pub mod config;
pub mod listener;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod serve;
pub mod tls;
pub mod whoami;
