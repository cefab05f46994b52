//! OpenID Connect Back-Channel Logout 1.0: when portal sessions end, every
//! client that registered a `backchannel_logout_uri` and held a live grant
//! for them receives a signed logout token.
//!
//! Which tokens: one session ended (sign-out) ⇒ one token with that
//! session's `sid` per client. Every session of a user ended (password
//! change, lock, MFA reset, reset by email) ⇒ a client that registered
//! `backchannel_logout_session_required` gets one token per OP session its
//! grants were made through, because RPs such as mod_auth_openidc find their
//! sessions by `sid` only; the others get one `sub`-only token.
//!
//! How: the tokens are queued in the store's outbox in the transaction that
//! revokes the grants ([`crate::store::Store::revoke_grants_queueing_logouts`]),
//! and delivered by the serving instances ([`spawn_delivery`], started by
//! `portcullis serve`). So a token queued by the admin CLI, which exits at
//! once, or by an instance that dies, is still sent; a claim in the store
//! lets exactly one instance send each. Failures are retried with a doubling
//! back-off and given up, with an audit event, after
//! `oidc.backchannel_max_attempts`. Tokens never reach a log line or the
//! audit: they are signed at each attempt and only the client, user and
//! attempt are logged.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;

use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::crypto;
use crate::error::Result;
use crate::idp::Idp;
use crate::store::{GrantsOf, LogoutRow, NewLogout, RevokedGrant};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// One delivery attempt, connection and answer: a slow client cannot hold a
/// claim anywhere near its lease.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a claim keeps other instances off a row. Far above [`TIMEOUT`]:
/// a lease that ran out while its holder still waits would mean two sends.
const LEASE_SECS: i64 = 60;
/// Rows one pass takes; the rest wait for the next pass, moments later.
const BATCH: i64 = 32;
/// The back-off stops doubling here.
const MAX_BACKOFF_SECS: i64 = 3600;
/// How long a logout token is valid after it was signed.
const TOKEN_SECS: i64 = 120;

/// Wakes this process's delivery tasks when it queues tokens, so a sign-out
/// on a serving instance is sent at once rather than at the next poll. One
/// for the process, not per core: waking a task of another core (tests run
/// several) costs it one empty look at its store, nothing more.
static WAKE: Notify = Notify::const_new();

/// What one delivery pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    /// Failed, and due again after the back-off.
    pub retrying: usize,
    /// Failed for the last allowed time, or the client (or its URI) is gone.
    pub abandoned: usize,
    /// Due, but another instance claimed them first.
    pub skipped: usize,
}

/// Why one attempt did not deliver a token.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the client no longer exists or has no backchannel_logout_uri")]
    NoReceiver,
    #[error("cannot read the client: {0}")]
    Client(String),
    #[error("the client answered {0}")]
    Refused(reqwest::StatusCode),
    #[error("the client could not be reached: {0}")]
    Unreachable(String),
    #[error("cannot sign the logout token: {0}")]
    Sign(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// What a client registered about logout tokens.
#[derive(Debug, Clone, Copy)]
struct Receiver {
    session_required: bool,
}

impl Idp {
    /// Revokes the grants of the user or session and, in the same
    /// transaction, queues the logout tokens their clients are owed; wakes
    /// this process's delivery task.
    pub(crate) async fn revoke_grants_telling_clients(
        &self,
        of: GrantsOf<'_>,
    ) -> Result<Vec<RevokedGrant>> {
        let clients = self.store.live_grant_clients(of).await?;
        let receivers = self.logout_receivers(&clients).await;
        let whole_user = matches!(of, GrantsOf::User(_));
        let revoked = self
            .store
            .revoke_grants_queueing_logouts(of, clock::now(), |grants| {
                self.plan_logouts(&receivers, grants, whole_user)
            })
            .await?;
        if revoked.iter().any(|g| receivers.contains_key(&g.client_id)) {
            WAKE.notify_waiters();
        }
        Ok(revoked)
    }

    /// The clients among `ids` that registered a back-channel logout URI.
    /// A client that cannot be read is logged and left out: ending the
    /// sessions must not fail because of one bad client record.
    async fn logout_receivers(&self, ids: &[String]) -> HashMap<String, Receiver> {
        let mut out = HashMap::new();
        for id in ids {
            match self.oidc_client(id).await {
                Ok(Some(c)) if c.backchannel_logout_uri.is_some() => {
                    out.insert(
                        id.clone(),
                        Receiver {
                            session_required: c.backchannel_logout_session_required,
                        },
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(client = %id, error = %e, "cannot read the client; no back-channel logout for it")
                }
            }
        }
        out
    }

    /// The logout tokens owed for revoked grants, one per client and `sid`
    /// (or per client, in the `sub`-only form).
    fn plan_logouts(
        &self,
        receivers: &HashMap<String, Receiver>,
        grants: &[RevokedGrant],
        whole_user: bool,
    ) -> Vec<NewLogout> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for g in grants {
            let Some(r) = receivers.get(&g.client_id) else {
                continue;
            };
            // One session ending always names it. All of them ending names
            // each one only for clients that need it: for the others one
            // `sub`-only token covers every session.
            let sid = if whole_user && !r.session_required {
                None
            } else {
                match &g.session_hash {
                    Some(h) => Some(super::token::sid_of(self, h)),
                    None if r.session_required => {
                        // Not made through a session: no ID token of it
                        // carried a sid, so the RP has nothing to match.
                        tracing::warn!(client = %g.client_id, "grant without a session; no logout token for it");
                        continue;
                    }
                    None => None,
                }
            };
            let l = NewLogout {
                client_id: g.client_id.clone(),
                user_id: g.user_id.clone(),
                sid,
            };
            if seen.insert(l.clone()) {
                out.push(l);
            }
        }
        out
    }

    /// The HTTP client for logout tokens: no redirects followed (the
    /// registered URI is the only place a token may go), built once.
    fn backchannel_http(&self) -> std::result::Result<reqwest::Client, SendError> {
        if let Some(c) = self.oidc.http.get() {
            return Ok(c.clone());
        }
        let c = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(TIMEOUT)
            .build()
            .map_err(|e| SendError::Http(e.to_string()))?;
        Ok(self.oidc.http.get_or_init(|| c).clone())
    }

    /// One pass over the outbox as of `now` (unix seconds; the background
    /// task passes the clock, tests pass what they need): claims each due
    /// row, sends its token, and deletes it, schedules its retry or gives
    /// it up. Rows are sent concurrently, so one slow client delays the pass
    /// by [`TIMEOUT`] at most.
    pub async fn deliver_due_logouts(&self, now: i64) -> Result<Delivery> {
        let ids = self.store.due_logouts(now, BATCH).await?;
        let results =
            futures_util::future::join_all(ids.iter().map(|id| self.deliver_one(id, now))).await;
        let mut d = Delivery::default();
        for r in results {
            match r {
                Ok(Step::Delivered) => d.delivered += 1,
                Ok(Step::Retrying) => d.retrying += 1,
                Ok(Step::Abandoned) => d.abandoned += 1,
                Ok(Step::Skipped) => d.skipped += 1,
                // The claim expires with its lease; the row is tried again.
                Err(e) => tracing::warn!(error = %e, "back-channel logout outbox"),
            }
        }
        Ok(d)
    }

    async fn deliver_one(&self, id: &str, now: i64) -> Result<Step> {
        let claim = crypto::random_token();
        let Some(row) = self
            .store
            .claim_logout(id, &claim, now, now + LEASE_SECS)
            .await?
        else {
            return Ok(Step::Skipped);
        };
        let attempt = row.attempts;
        let error = match self.send_logout(&row).await {
            Ok(()) => {
                tracing::info!(client = %row.client_id, user_id = %row.user_id, attempt, "back-channel logout delivered");
                self.store.finish_logout(id, &claim).await?;
                return Ok(Step::Delivered);
            }
            Err(e) => e,
        };
        let max = i64::from(self.config.oidc.backchannel_max_attempts);
        if matches!(error, SendError::NoReceiver) || attempt >= max {
            tracing::error!(client = %row.client_id, user_id = %row.user_id, attempt, error = %error, "back-channel logout given up");
            self.store.finish_logout(id, &claim).await?;
            let detail = format!(
                "client {}: not delivered after {attempt} attempt(s): {error}",
                row.client_id
            );
            audit::record(
                &self.store,
                clock::now(),
                Event::new("oidc.backchannel_logout", Outcome::Failure)
                    .user(&row.user_id)
                    .detail(detail),
            )
            .await;
            return Ok(Step::Abandoned);
        }
        let wait = self.backoff(attempt);
        tracing::warn!(client = %row.client_id, user_id = %row.user_id, attempt, retry_in_secs = wait, error = %error, "back-channel logout not delivered yet; will retry");
        self.store
            .retry_logout(id, &claim, now + wait, &error.to_string())
            .await?;
        Ok(Step::Retrying)
    }

    /// The wait after failed attempt number `attempt` (1 for the first).
    fn backoff(&self, attempt: i64) -> i64 {
        let base = self.config.oidc.backchannel_retry_backoff.as_secs().max(1) as i64;
        let doublings = (attempt - 1).clamp(0, 20) as u32;
        base.saturating_mul(1 << doublings).min(MAX_BACKOFF_SECS)
    }

    /// Signs a fresh token for the row (new `iat`, `exp` and `jti` at each
    /// attempt, so one sent after a long back-off is not already expired)
    /// and posts it to the client's URI.
    async fn send_logout(&self, row: &LogoutRow) -> std::result::Result<(), SendError> {
        let client = match self.oidc_client(&row.client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(SendError::NoReceiver),
            Err(e) => return Err(SendError::Client(e.to_string())),
        };
        let Some(uri) = client.backchannel_logout_uri.as_deref() else {
            return Err(SendError::NoReceiver);
        };
        let now = clock::now();
        // Back-Channel Logout 1.0, 2.4: no nonce; sub and/or sid.
        let mut claims = json!({
            "iss": self.issuer(),
            "aud": client.client_id,
            "iat": now,
            "exp": now + TOKEN_SECS,
            "jti": crypto::random_token(),
            "sub": row.user_id,
            "events": { EVENT: {} },
        });
        if let Some(sid) = &row.sid {
            claims["sid"] = serde_json::Value::from(sid.clone());
        }
        let token = self
            .oidc_keys()
            .await
            .and_then(|k| Ok(k.sign(client.alg(), "logout+jwt", &claims)?))
            .map_err(|e| SendError::Sign(e.to_string()))?;
        let res = self
            .backchannel_http()?
            .post(uri)
            .timeout(TIMEOUT)
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
            // Without the URL: an RP's URI may carry a secret of its own.
            .map_err(|e| SendError::Unreachable(e.without_url().to_string()))?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(SendError::Refused(res.status()))
        }
    }
}

enum Step {
    Delivered,
    Retrying,
    Abandoned,
    Skipped,
}

/// The delivery task of a serving instance: a pass over the outbox whenever
/// this process queues tokens, and every `oidc.backchannel_poll_interval`
/// for those queued elsewhere and for retries. Runs until the runtime stops;
/// a claim left behind by a stop expires with its lease and another
/// instance (or the next start) sends the token.
pub fn spawn_delivery(idp: Arc<Idp>) -> tokio::task::JoinHandle<()> {
    let poll = idp.config.oidc.backchannel_poll_interval;
    tokio::spawn(async move {
        loop {
            // Registered before the pass, so a token queued during it
            // wakes the next one instead of waiting for the poll.
            let woken = WAKE.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Err(e) = idp.deliver_due_logouts(clock::now()).await {
                tracing::warn!(error = %e, "back-channel logout outbox unavailable; trying again");
            }
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    })
}
