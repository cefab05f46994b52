//! The read-only LDAP interface (RFC 4511), as a protocol engine: decoded
//! LDAP messages and the connection's bound identity in, typed LDAP
//! responses out. It has no socket and no TLS; [`listener`] carries the
//! messages. Wire types are `ldap3_proto`'s, so no BER is written here.
//!
//! The tree, under the configured base DN:
//! - `ou=users`: one `inetOrgPerson` per user, named `mail=<email>`;
//! - `ou=groups`: one `groupOfNames` per group, named `cn=<name>`;
//! - `ou=services`: the service accounts' bind DNs (`cn=<name>`), which
//!   are not themselves listed.
//!
//! Who reads what (see [`view`]): a user reads their own entry in full and
//! the directory basics of everyone else; a service account reads what its
//! grant names (`users`, `groups`), in full; an anonymous bind, when
//! allowed, reads the basics. The basics are every attribute except
//! `telephoneNumber` and `sshPublicKey`. Filters are evaluated on what the
//! identity may read, so a filter cannot probe a hidden attribute.

pub mod bind;
pub mod config;
pub mod dn;
pub mod listener;
pub mod reach;
pub mod view;

use std::sync::Arc;

use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapCompareRequest, LdapExtendedResponse, LdapMsg, LdapOp, LdapResult, LdapResultCode,
    LdapSearchRequest,
};

pub use config::LdapConfig;
use dn::Dn;

use crate::idp::Idp;

/// RFC 4532 "Who am I?".
pub const OID_WHOAMI: &str = "1.3.6.1.4.1.4203.1.11.3";
/// RFC 4511 §4.14 StartTLS.
pub const OID_STARTTLS: &str = "1.3.6.1.4.1.1466.20037";
/// RFC 2696 simple paged results.
pub const OID_PAGED: &str = "1.2.840.113556.1.4.319";

/// What a service account may read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants {
    pub users: bool,
    pub groups: bool,
}

impl Grants {
    /// Parses `users,groups` (either, both, in any order).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut g = Self::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "users" => g.users = true,
                "groups" => g.groups = true,
                other => return Err(format!("unknown grant {other:?}: use users, groups")),
            }
        }
        if !g.users && !g.groups {
            return Err("grant at least one of users, groups".into());
        }
        Ok(g)
    }

    pub fn as_str(self) -> &'static str {
        match (self.users, self.groups) {
            (true, true) => "users,groups",
            (true, false) => "users",
            (false, true) => "groups",
            (false, false) => "",
        }
    }
}

/// Who a connection is bound as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No bind yet (or a failed one): only the rootDSE is answered, unless
    /// anonymous reads are allowed.
    Nobody,
    /// An anonymous bind, accepted because `allow_anonymous` is on.
    Anonymous,
    User {
        id: String,
        dn: String,
    },
    Service {
        name: String,
        dn: String,
        grants: Grants,
    },
}

impl Identity {
    fn authz_id(&self) -> String {
        match self {
            Self::Nobody | Self::Anonymous => String::new(),
            Self::User { dn, .. } | Self::Service { dn, .. } => format!("dn:{dn}"),
        }
    }
}

/// The state of one connection between its operations.
#[derive(Debug, Clone)]
pub struct Connection {
    pub identity: Identity,
    /// Whether the connection is protected by TLS (LDAPS, or after StartTLS).
    pub tls: bool,
    /// Plain connections on the StartTLS listener answer nothing but the
    /// rootDSE and StartTLS until TLS is up.
    pub tls_required: bool,
    /// Whether this connection may start TLS (the StartTLS listener, and a
    /// plain one when a certificate is there).
    pub starttls_offered: bool,
    /// The client's address, for the throttle and the audit trail.
    pub peer: Option<String>,
}

impl Connection {
    pub fn new(
        tls: bool,
        tls_required: bool,
        starttls_offered: bool,
        peer: Option<String>,
    ) -> Self {
        Self {
            identity: Identity::Nobody,
            tls,
            tls_required,
            starttls_offered,
            peer,
        }
    }
}

/// Why an operation failed, each with its LDAP result code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LdapError {
    /// Wrong password or key, unknown account, or (to whoever knew the
    /// password) a locked, expired or federated one: the message says.
    #[error("{0}")]
    InvalidCredentials(&'static str),
    #[error("anonymous bind is not allowed")]
    AnonymousRefused,
    /// RFC 4513 §5.1.2: a DN with an empty password is never a success.
    #[error("unauthenticated bind (a DN without a password) is not allowed")]
    UnauthenticatedBind,
    #[error("too many failed binds; try again in {0}s")]
    Throttled(i64),
    #[error("only simple binds are supported")]
    AuthMethodNotSupported,
    #[error("protect the connection with StartTLS first")]
    ConfidentialityRequired,
    #[error("bind first")]
    BindRequired,
    #[error("no such entry")]
    NoSuchObject,
    #[error("not a distinguished name: {0}")]
    InvalidDn(String),
    #[error("{0}")]
    Protocol(&'static str),
    #[error("this directory is read-only")]
    ReadOnly,
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("the directory is unavailable; try again")]
    Unavailable,
}

impl LdapError {
    pub fn code(&self) -> LdapResultCode {
        match self {
            Self::InvalidCredentials(_) => LdapResultCode::InvalidCredentials,
            Self::AnonymousRefused => LdapResultCode::InappropriateAuthentication,
            Self::UnauthenticatedBind | Self::ReadOnly | Self::Unsupported(_) => {
                LdapResultCode::UnwillingToPerform
            }
            Self::Throttled(_) => LdapResultCode::Busy,
            Self::AuthMethodNotSupported => LdapResultCode::AuthMethodNotSupported,
            Self::ConfidentialityRequired => LdapResultCode::ConfidentialityRequired,
            Self::BindRequired => LdapResultCode::InsufficentAccessRights,
            Self::NoSuchObject => LdapResultCode::NoSuchObject,
            Self::InvalidDn(_) => LdapResultCode::InvalidDNSyntax,
            Self::Protocol(_) => LdapResultCode::ProtocolError,
            Self::Unavailable => LdapResultCode::Unavailable,
        }
    }
}

impl From<crate::error::Error> for LdapError {
    fn from(e: crate::error::Error) -> Self {
        // The cause goes to the log, not to the client.
        tracing::warn!(error = %e, "LDAP operation failed in the store");
        Self::Unavailable
    }
}

/// What the listener does after sending the replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// The StartTLS response was sent: the TLS handshake comes next.
    StartTls,
    /// Unbind, or a message that cannot be answered: close the connection.
    Close,
}

/// The replies to one request.
#[derive(Debug)]
pub struct Reply {
    pub messages: Vec<LdapMsg>,
    pub next: Next,
}

impl Reply {
    fn one(msg: LdapMsg) -> Self {
        Self {
            messages: vec![msg],
            next: Next::Continue,
        }
    }
}

fn result(code: LdapResultCode, message: String) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message,
        referral: Vec::new(),
    }
}

fn ok() -> LdapResult {
    result(LdapResultCode::Success, String::new())
}

fn err(e: &LdapError) -> LdapResult {
    result(e.code(), e.to_string())
}

/// The engine: the core, the `[ldap]` section and its parsed base DN.
#[derive(Debug, Clone)]
pub struct Engine {
    pub idp: Arc<Idp>,
    pub base: Dn,
    /// Held while POSIX numbers are given out: the first searches after
    /// start-up, arriving together, would otherwise each allocate the same
    /// thousands of owners.
    posix_allocation: Arc<tokio::sync::Mutex<()>>,
}

impl Engine {
    pub(crate) async fn posix_allocation(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.posix_allocation.lock().await
    }

    /// Over the core's `[ldap]` section (validated at start-up).
    pub fn new(idp: Arc<Idp>) -> Result<Self, crate::config::ConfigError> {
        let base = Dn::parse(&idp.config.ldap.base_dn)
            .map_err(|e| crate::config::ConfigError::new("ldap.base_dn", e.to_string()))?;
        Ok(Self {
            idp,
            base,
            posix_allocation: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn config(&self) -> &LdapConfig {
        &self.idp.config.ldap
    }

    /// Answers one request on `conn`.
    pub async fn handle(&self, conn: &mut Connection, msg: LdapMsg) -> Reply {
        let LdapMsg { msgid, op, ctrl } = msg;
        let reply = |op: LdapOp| Reply::one(LdapMsg::new(msgid, op));
        let locked_out = conn.tls_required && !conn.tls;
        match op {
            LdapOp::BindRequest(req) => {
                let anonymous = matches!(&req.cred, ldap3_proto::proto::LdapBindCred::Simple(pw) if pw.is_empty());
                if locked_out && !anonymous {
                    // Not even a failed bind: no password travels in clear.
                    conn.identity = Identity::Nobody;
                    return reply(LdapOp::BindResponse(bind::response(Err(
                        LdapError::ConfidentialityRequired,
                    ))));
                }
                let outcome = self.bind(conn, req).await;
                conn.identity = match &outcome {
                    Ok(id) => id.clone(),
                    Err(_) => Identity::Nobody,
                };
                reply(LdapOp::BindResponse(bind::response(outcome.map(|_| ()))))
            }
            LdapOp::UnbindRequest => Reply {
                messages: Vec::new(),
                next: Next::Close,
            },
            LdapOp::SearchRequest(req) => {
                let is_root_dse =
                    req.base.is_empty() && req.scope == ldap3_proto::proto::LdapSearchScope::Base;
                if locked_out && !is_root_dse {
                    return reply(LdapOp::SearchResultDone(err(
                        &LdapError::ConfidentialityRequired,
                    )));
                }
                self.search(conn, msgid, req, &ctrl).await
            }
            LdapOp::CompareRequest(req) => {
                if locked_out {
                    return reply(LdapOp::CompareResult(err(
                        &LdapError::ConfidentialityRequired,
                    )));
                }
                reply(LdapOp::CompareResult(self.compare(conn, req).await))
            }
            LdapOp::ExtendedRequest(req) => match req.name.as_str() {
                OID_STARTTLS if conn.starttls_offered && !conn.tls => Reply {
                    messages: vec![LdapMsg::new(
                        msgid,
                        LdapOp::ExtendedResponse(LdapExtendedResponse {
                            res: ok(),
                            name: Some(OID_STARTTLS.into()),
                            value: None,
                        }),
                    )],
                    next: Next::StartTls,
                },
                OID_STARTTLS => reply(LdapOp::ExtendedResponse(LdapExtendedResponse {
                    res: result(
                        LdapResultCode::OperationsError,
                        if conn.tls {
                            "TLS is already up".into()
                        } else {
                            "StartTLS is not offered on this listener".into()
                        },
                    ),
                    name: Some(OID_STARTTLS.into()),
                    value: None,
                })),
                OID_WHOAMI if locked_out => reply(LdapOp::ExtendedResponse(LdapExtendedResponse {
                    res: err(&LdapError::ConfidentialityRequired),
                    name: None,
                    value: None,
                })),
                OID_WHOAMI => reply(LdapOp::ExtendedResponse(LdapExtendedResponse {
                    res: ok(),
                    name: None,
                    value: Some(conn.identity.authz_id().into_bytes()),
                })),
                _ => reply(LdapOp::ExtendedResponse(LdapExtendedResponse {
                    res: result(
                        LdapResultCode::ProtocolError,
                        "unsupported extended operation".into(),
                    ),
                    name: None,
                    value: None,
                })),
            },
            // No response, per RFC 4511 §4.11; every operation here is
            // answered before the next is read, so there is nothing to stop.
            LdapOp::AbandonRequest(_) => Reply {
                messages: Vec::new(),
                next: Next::Continue,
            },
            LdapOp::AddRequest(_) => reply(LdapOp::AddResponse(err(&LdapError::ReadOnly))),
            LdapOp::ModifyRequest(_) => reply(LdapOp::ModifyResponse(err(&LdapError::ReadOnly))),
            LdapOp::DelRequest(_) => reply(LdapOp::DelResponse(err(&LdapError::ReadOnly))),
            LdapOp::ModifyDNRequest(_) => {
                reply(LdapOp::ModifyDNResponse(err(&LdapError::ReadOnly)))
            }
            // A response type sent as a request: nothing sensible follows.
            _ => Reply {
                messages: vec![disconnect(
                    LdapResultCode::ProtocolError,
                    "unexpected message",
                )],
                next: Next::Close,
            },
        }
    }

    async fn search(
        &self,
        conn: &Connection,
        msgid: i32,
        req: LdapSearchRequest,
        ctrl: &[LdapControl],
    ) -> Reply {
        let paged = ctrl.iter().find_map(|c| match c {
            LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
            _ => None,
        });
        match view::search(self, conn, &req, paged).await {
            Ok(found) => {
                let mut messages: Vec<LdapMsg> = found
                    .entries
                    .into_iter()
                    .map(|e| LdapMsg::new(msgid, LdapOp::SearchResultEntry(e)))
                    .collect();
                let done = match found.outcome {
                    view::Outcome::Complete => ok(),
                    view::Outcome::SizeLimit => result(
                        LdapResultCode::SizeLimitExceeded,
                        "size limit exceeded".into(),
                    ),
                };
                let ctrl = match found.next_page {
                    Some(cookie) => vec![LdapControl::SimplePagedResults { size: 0, cookie }],
                    None => Vec::new(),
                };
                messages.push(LdapMsg::new_with_ctrls(
                    msgid,
                    LdapOp::SearchResultDone(done),
                    ctrl,
                ));
                Reply {
                    messages,
                    next: Next::Continue,
                }
            }
            Err(e) => Reply::one(LdapMsg::new(msgid, LdapOp::SearchResultDone(err(&e)))),
        }
    }

    async fn compare(&self, conn: &Connection, req: LdapCompareRequest) -> LdapResult {
        match view::compare(self, conn, &req).await {
            Ok(true) => result(LdapResultCode::CompareTrue, String::new()),
            Ok(false) => result(LdapResultCode::CompareFalse, String::new()),
            Err(e) => err(&e),
        }
    }
}

/// RFC 4511 §4.4.1 notice of disconnection.
pub fn disconnect(code: LdapResultCode, message: &str) -> LdapMsg {
    LdapMsg::new(
        0,
        LdapOp::ExtendedResponse(LdapExtendedResponse {
            res: result(code, message.into()),
            name: Some("1.3.6.1.4.1.1466.20036".into()),
            value: None,
        }),
    )
}
