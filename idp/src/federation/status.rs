//! How each upstream provider is doing, as this instance saw it: when its
//! discovery document or metadata was last read, the last failure to read
//! it, the last refused sign-in through it, and when its signing
//! certificate expires. In memory only: each instance reports what it saw
//! itself since it started, which is what an operator chasing a failure
//! on that instance needs.

use std::sync::Mutex;

use serde::Serialize;

/// One provider's record (a copy; see [`Tracker::get`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The last successful read of the discovery document or metadata.
    pub fetched_at: Option<i64>,
    /// The last failed read, and why.
    pub error_at: Option<i64>,
    pub error: Option<String>,
    /// The last refused sign-in through this provider, and why.
    pub signin_failure_at: Option<i64>,
    pub signin_failure: Option<String>,
    /// The entity ID the SAML metadata names.
    pub entity_id: Option<String>,
    /// The earliest NotAfter of the SAML metadata's signing certificates.
    pub cert_not_after: Option<i64>,
}

/// The record behind a lock. A poisoned lock still holds a usable record:
/// every write replaces whole fields.
#[derive(Debug, Default)]
pub struct Tracker(Mutex<Status>);

impl Tracker {
    fn with(&self, f: impl FnOnce(&mut Status)) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
    }

    pub fn get(&self) -> Status {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn fetched(&self, at: i64) {
        self.with(|s| s.fetched_at = Some(at));
    }

    /// SAML metadata read: its entity ID and certificate expiry too.
    pub fn fetched_metadata(
        &self,
        at: i64,
        entity_id: Option<String>,
        cert_not_after: Option<i64>,
    ) {
        self.with(|s| {
            s.fetched_at = Some(at);
            s.entity_id = entity_id;
            s.cert_not_after = cert_not_after;
        });
    }

    pub fn fetch_failed(&self, at: i64, why: String) {
        self.with(|s| {
            s.error_at = Some(at);
            s.error = Some(why);
        });
    }

    pub fn signin_failed(&self, at: i64, why: String) {
        self.with(|s| {
            s.signin_failure_at = Some(at);
            s.signin_failure = Some(why);
        });
    }
}

/// The entity ID and the earliest signing-certificate expiry of IdP metadata.
pub fn metadata_facts(md: &samael::metadata::EntityDescriptor) -> (Option<String>, Option<i64>) {
    let sp = samael::service_provider::ServiceProvider {
        idp_metadata: md.clone(),
        ..Default::default()
    };
    let expiry = sp
        .idp_signing_certs()
        .ok()
        .flatten()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| crate::saml::keys::certificate_facts(c.der_data()))
        .map(|f| f.not_after)
        .min();
    (md.entity_id.clone(), expiry)
}
