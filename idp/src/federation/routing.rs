//! The registry of configured providers and the domain routing: which
//! provider, if any, owns an email's domain.

use std::sync::Arc;

use super::config::{Common, FederationConfig};
use super::oidc::OidcProvider;
use super::saml::SamlProvider;

/// One upstream provider of either kind.
#[derive(Debug)]
pub enum Provider {
    Oidc(Box<OidcProvider>),
    Saml(Box<SamlProvider>),
}

impl Provider {
    pub fn common(&self) -> &Common {
        match self {
            Self::Oidc(p) => &p.common,
            Self::Saml(p) => &p.common,
        }
    }

    pub fn status(&self) -> &super::status::Tracker {
        match self {
            Self::Oidc(p) => &p.status,
            Self::Saml(p) => &p.status,
        }
    }
}

/// Every configured provider, with the HTTP client they share.
#[derive(Debug)]
pub struct Federation {
    providers: Vec<Arc<Provider>>,
    pub http: openidconnect::reqwest::Client,
    pub config: FederationConfig,
}

impl Federation {
    /// Builds the providers; SAML metadata files are read and parsed now,
    /// so a bad file stops the start-up with its key named.
    pub fn new(config: &FederationConfig, public_url: &url::Url) -> Result<Self, crate::Error> {
        let http = super::http_client(config.http_timeout)?;
        let mut providers = Vec::new();
        for p in &config.oidc {
            let op = OidcProvider::new(p.clone(), public_url);
            providers.push(Arc::new(Provider::Oidc(Box::new(op))));
        }
        for (i, p) in config.saml.iter().enumerate() {
            let sp = SamlProvider::new(p.clone(), public_url)
                .map_err(|e| crate::Error::Invalid(format!("federation.saml[{i}]: {e}")))?;
            providers.push(Arc::new(Provider::Saml(Box::new(sp))));
        }
        Ok(Self {
            providers,
            http,
            config: config.clone(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// Every provider, in configuration order (OIDC, then SAML).
    pub fn providers(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.providers.iter()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Provider>> {
        self.providers.iter().find(|p| p.common().id == id).cloned()
    }

    /// The provider owning the email's domain. `email` is already normalised.
    pub fn for_email(&self, email: &str) -> Option<Arc<Provider>> {
        let domain = email.rsplit_once('@')?.1;
        self.providers
            .iter()
            .find(|p| p.common().domains.iter().any(|d| d == domain))
            .cloned()
    }

    /// Fetches what each provider publishes (OIDC discovery, SAML metadata
    /// URLs) now, then keeps SAML metadata fresh. A provider that cannot be
    /// reached is logged and tried again at its next use.
    pub fn start_background(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                for p in &me.providers {
                    let res = match p.as_ref() {
                        Provider::Oidc(o) => o.refresh(&me.http).await.map(|_| ()),
                        Provider::Saml(s) => s.refresh(&me.http).await,
                    };
                    if let Err(e) = res {
                        tracing::warn!(provider = %p.common().id, error = %e, "federation: provider metadata not loaded");
                    }
                }
                tokio::time::sleep(me.config.metadata_refresh).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::config::OidcProviderConfig;

    fn oidc(id: &str, domains: &[&str]) -> OidcProviderConfig {
        toml::from_str(&format!(
            "id = \"{id}\"\nname = \"{id}\"\ndomains = {domains:?}\nissuer = \"https://{id}.example\"\nclient_id = \"c\"\n"
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn routes_by_exact_domain() {
        let cfg = FederationConfig {
            oidc: vec![
                oidc("a", &["a.example", "A2.example"]),
                oidc("b", &["b.example"]),
            ],
            ..FederationConfig::default()
        };
        let url = url::Url::parse("https://portal.localhost").unwrap();
        let f = Federation::new(&cfg, &url).unwrap();
        assert_eq!(f.for_email("x@a.example").unwrap().common().id, "a");
        assert_eq!(f.for_email("x@a2.example").unwrap().common().id, "a");
        assert_eq!(f.for_email("x@b.example").unwrap().common().id, "b");
        assert!(
            f.for_email("x@sub.a.example").is_none(),
            "no suffix matching"
        );
        assert!(f.for_email("x@example.com").is_none());
        assert!(f.for_email("not-an-email").is_none());
        assert!(f.get("b").is_some() && f.get("c").is_none());
    }
}
