//! The handshake that gives each protected application host its own cookie.
//!
//! A browser without a cookie for an application host is sent to the portal
//! (`/gateway/authorize`). When it has a portal session there, the portal
//! issues a single-use code bound to that session and the application, and
//! sends the browser back to the application host, where the gateway redeems
//! the code. Codes live in the shared state store, so the instance that
//! redeems one need not be the one that issued it, and a code redeemed on one
//! instance is gone for all. The portal session id never appears in a URL;
//! the code is worthless after one use or [`CODE_TTL_SECS`].

use std::collections::HashMap;
use std::sync::RwLock;

use crate::crypto;
use crate::error::Result;
use crate::request_path::{self, PathCase, PathOptions};
use crate::session::SessionKey;
use crate::store::Store;

/// How long a code may wait to be redeemed: one redirect's worth.
pub const CODE_TTL_SECS: i64 = 60;

/// An application the gateway protects, as the portal needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayApp {
    /// The policy's identifier (its file name without `.toml`).
    pub id: String,
    /// Display name, for pages.
    pub name: String,
    /// `scheme://host[:port]` as browsers reach the application.
    pub origin: String,
    /// The path the application lives under on its host (`/` for the whole
    /// host, else without a trailing slash): several applications may share
    /// one host, told apart by this.
    pub path_prefix: String,
    /// The policy's session idle override: the portal hands this
    /// application a code silently only when the user proved who they are
    /// within it, and asks for the password again otherwise.
    pub idle: Option<std::time::Duration>,
    /// How the application's upstream compares paths.
    pub path_case: PathCase,
    /// Whether `;` path parameters are allowed on the application.
    pub path_parameters: bool,
}

impl GatewayApp {
    /// Whether `url` is on this application: its origin and, on a shared
    /// host, inside its path prefix (whole segments), judged on the path's
    /// normalised form as the gateway judges the request it leads to.
    pub fn contains(&self, url: &url::Url) -> bool {
        let opts = PathOptions {
            parameters: self.path_parameters,
        };
        url.origin().ascii_serialization() == self.origin
            && request_path::normalize(url.path(), opts).is_ok_and(|p| {
                let rule_path = request_path::without_parameters(&p);
                request_path::in_prefix(&self.path_prefix, &rule_path, self.path_case)
            })
    }
}

/// What a redeemed code proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub session: SessionKey,
    pub app: String,
    /// The browser-bound state the gateway set before the round trip.
    pub state: String,
}

/// The protected applications, and the store holding the codes in flight.
#[derive(Debug)]
pub struct Handoffs {
    apps: RwLock<HashMap<String, GatewayApp>>,
    store: Store,
}

impl Handoffs {
    pub fn new(store: Store) -> Self {
        Self {
            apps: RwLock::default(),
            store,
        }
    }

    /// Replaces the set of applications (at start-up and on reload).
    pub fn set_apps(&self, apps: impl IntoIterator<Item = GatewayApp>) {
        let map = apps.into_iter().map(|a| (a.id.clone(), a)).collect();
        if let Ok(mut guard) = self.apps.write() {
            *guard = map;
        }
    }

    pub fn app(&self, id: &str) -> Option<GatewayApp> {
        self.apps.read().ok()?.get(id).cloned()
    }

    /// A new single-use code for `grant`. Only its SHA-256 is stored, so
    /// lookups reveal nothing through timing and a copy of the database
    /// redeems nothing. Expired codes are swept here.
    pub async fn issue(&self, grant: Grant, now: i64) -> Result<String> {
        let code = crypto::random_token();
        let key = crypto::sha256_hex(code.as_bytes());
        self.store
            .put_handoff(
                &key,
                grant.session.as_str(),
                &grant.app,
                &grant.state,
                now + CODE_TTL_SECS,
                now,
            )
            .await?;
        Ok(code)
    }

    /// Redeems `code` for application `app`: at most once across every
    /// instance, before it expires. A try for the wrong application burns it.
    pub async fn redeem(&self, code: &str, app: &str, now: i64) -> Result<Option<Grant>> {
        if code.len() != 43 {
            return Ok(None);
        }
        let key = crypto::sha256_hex(code.as_bytes());
        let Some((session, code_app, state, expires_at)) = self.store.take_handoff(&key).await?
        else {
            return Ok(None);
        };
        Ok((expires_at > now && code_app == app).then(|| Grant {
            session: SessionKey::from_stored(session),
            app: code_app,
            state,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_contains_its_origin_and_prefix_only() {
        let app = GatewayApp {
            id: "a".into(),
            name: "A".into(),
            origin: "https://apps.localhost:8443".into(),
            path_prefix: "/a".into(),
            idle: None,
            path_case: PathCase::Sensitive,
            path_parameters: false,
        };
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(app.contains(&url("https://apps.localhost:8443/a")));
        assert!(app.contains(&url("https://apps.localhost:8443/a/x?q=1")));
        // Other spellings of a path inside the prefix, as the gateway reads them.
        assert!(app.contains(&url("https://apps.localhost:8443//a/x")));
        assert!(app.contains(&url("https://apps.localhost:8443/%61/x")));
        for bad in [
            "https://apps.localhost:8443/",
            "https://apps.localhost:8443/b/x",
            "https://apps.localhost:8443/ab",
            "https://apps.localhost:8443/a/../b",
            "https://apps.localhost:8443/a/%2e%2e/b",
            "https://other.localhost:8443/a",
            "http://apps.localhost:8443/a",
            "https://apps.localhost:8443/A/x",
            "https://apps.localhost:8443/a%2fx",
            "https://apps.localhost:8443/a;x",
        ] {
            assert!(!app.contains(&url(bad)), "{bad}");
        }
        let loose = GatewayApp {
            path_case: PathCase::Insensitive,
            path_parameters: true,
            ..app
        };
        assert!(loose.contains(&url("https://apps.localhost:8443/A/x")));
        assert!(loose.contains(&url("https://apps.localhost:8443/a;x")));
    }

    fn grant(app: &str) -> Grant {
        Grant {
            session: SessionKey::of_token("t"),
            app: app.into(),
            state: "s".into(),
        }
    }

    #[tokio::test]
    async fn codes_are_single_use_bound_and_short_lived() {
        let h = Handoffs::new(Store::open_in_memory().await.unwrap());
        let code = h.issue(grant("wiki"), 100).await.unwrap();
        assert_eq!(
            h.redeem(&code, "wiki", 101).await.unwrap(),
            Some(grant("wiki"))
        );
        assert_eq!(
            h.redeem(&code, "wiki", 101).await.unwrap(),
            None,
            "second use"
        );

        let code = h.issue(grant("wiki"), 100).await.unwrap();
        assert_eq!(
            h.redeem(&code, "other", 101).await.unwrap(),
            None,
            "other application"
        );
        assert_eq!(
            h.redeem(&code, "wiki", 101).await.unwrap(),
            None,
            "burnt by the wrong try"
        );

        let code = h.issue(grant("wiki"), 100).await.unwrap();
        assert_eq!(
            h.redeem(&code, "wiki", 100 + CODE_TTL_SECS).await.unwrap(),
            None,
            "expired"
        );
        assert_eq!(h.redeem("short", "wiki", 100).await.unwrap(), None);
    }

    #[tokio::test]
    async fn two_handles_on_one_store_share_codes() {
        let store = Store::open_in_memory().await.unwrap();
        let (a, b) = (Handoffs::new(store.clone()), Handoffs::new(store));
        let code = a.issue(grant("wiki"), 100).await.unwrap();
        assert_eq!(
            b.redeem(&code, "wiki", 101).await.unwrap(),
            Some(grant("wiki"))
        );
        assert_eq!(a.redeem(&code, "wiki", 101).await.unwrap(), None);
    }
}
