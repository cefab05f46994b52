//! The audit trail: one row per security event. Callers pass identifiers,
//! never secrets; the detail field is for people and carries no passwords,
//! tokens or keys.

use crate::store::{AuditRow, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

/// One event before it is written.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub event: &'a str,
    pub user_id: Option<&'a str>,
    /// Who or what it is about, e.g. the email typed at sign-in.
    pub subject: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    /// Who did it when it was an administrative action (see `admin::Actor`).
    pub actor: Option<&'a str>,
    pub outcome: Outcome,
    pub detail: String,
}

impl<'a> Event<'a> {
    pub fn new(event: &'a str, outcome: Outcome) -> Self {
        Self {
            event,
            user_id: None,
            subject: None,
            source_ip: None,
            actor: None,
            outcome,
            detail: String::new(),
        }
    }
    pub fn user(mut self, id: &'a str) -> Self {
        self.user_id = Some(id);
        self
    }
    /// The user it is about: their id and email.
    pub fn about(self, user: &'a crate::directory::User) -> Self {
        self.user(&user.id).subject(&user.email)
    }
    pub fn subject(mut self, s: &'a str) -> Self {
        self.subject = Some(s);
        self
    }
    pub fn ip(mut self, ip: Option<&'a str>) -> Self {
        self.source_ip = ip;
        self
    }
    pub fn actor(mut self, actor: &'a str) -> Self {
        self.actor = Some(actor);
        self
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = d.into();
        self
    }
}

/// Writes the event and mirrors it to the log. An audit write that fails is
/// logged loudly but does not fail the user's request.
pub async fn record(store: &Store, now: i64, e: Event<'_>) {
    let outcome = match e.outcome {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
    };
    tracing::info!(
        target: "audit",
        event = e.event,
        user_id = e.user_id,
        subject = e.subject,
        source_ip = e.source_ip,
        actor = e.actor,
        outcome,
        detail = %e.detail,
    );
    let row = AuditRow {
        at: now,
        event: e.event.to_string(),
        user_id: e.user_id.map(str::to_owned),
        subject: e.subject.map(str::to_owned),
        source_ip: e.source_ip.map(str::to_owned),
        actor: e.actor.map(str::to_owned),
        outcome: outcome.to_string(),
        detail: e.detail,
    };
    if let Err(err) = store.insert_audit(&row).await {
        tracing::error!(error = %err, event = row.event, "audit write failed");
    }
}
