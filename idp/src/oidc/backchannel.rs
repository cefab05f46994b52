//! OpenID Connect Back-Channel Logout 1.0: when portal sessions end, every
//! client that registered a `backchannel_logout_uri` and held a live grant
//! for them receives a signed logout token. Delivery runs in the background
//! with a short timeout: a slow or dead client never delays a sign-out.

use std::time::Duration;

use serde_json::json;

use crate::accounts::Idp;
use crate::clock;
use crate::crypto;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const TIMEOUT: Duration = Duration::from_secs(5);

impl Idp {
    /// The HTTP client for logout tokens: no redirects followed (the
    /// registered URI is the only place a token may go), built once.
    fn backchannel_http(&self) -> Option<reqwest::Client> {
        if let Some(c) = self.oidc.http.get() {
            return Some(c.clone());
        }
        match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(TIMEOUT)
            .build()
        {
            Ok(c) => Some(self.oidc.http.get_or_init(|| c).clone()),
            Err(e) => {
                tracing::error!(error = %e, "cannot build the back-channel logout HTTP client");
                None
            }
        }
    }

    /// Sends logout tokens for `user_id` (and the session's `sid`, when one
    /// session ended) to each of `client_ids` that registered a URI.
    pub async fn send_backchannel_logout(
        &self,
        client_ids: &[String],
        user_id: &str,
        sid: Option<String>,
    ) {
        let mut seen = std::collections::HashSet::new();
        for id in client_ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let client = match self.oidc_client(id).await {
                Ok(Some(c)) => c,
                _ => continue,
            };
            let Some(uri) = client.backchannel_logout_uri.clone() else {
                continue;
            };
            let now = clock::now();
            let mut claims = json!({
                "iss": self.issuer(),
                "aud": client.client_id,
                "iat": now,
                "exp": now + 120,
                "jti": crypto::random_token(),
                "sub": user_id,
                "events": { EVENT: {} },
            });
            if let Some(sid) = &sid {
                claims["sid"] = serde_json::Value::from(sid.clone());
            }
            let token = match self
                .oidc_keys()
                .await
                .and_then(|k| k.sign(client.alg(), "logout+jwt", &claims))
            {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, client = %client.client_id, "cannot sign a logout token");
                    continue;
                }
            };
            let Some(http) = self.backchannel_http() else {
                continue;
            };
            let client_id = client.client_id.clone();
            tokio::spawn(async move {
                let res = http
                    .post(&uri)
                    .timeout(TIMEOUT)
                    .form(&[("logout_token", token.as_str())])
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().is_success() => {
                        tracing::info!(client = %client_id, "back-channel logout delivered");
                    }
                    Ok(r) => {
                        tracing::warn!(client = %client_id, status = %r.status(), "back-channel logout refused")
                    }
                    Err(e) => {
                        tracing::warn!(client = %client_id, error = %e, "back-channel logout failed")
                    }
                }
            });
        }
    }
}
