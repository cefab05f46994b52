//! `portcullis admin clients` and `portcullis admin keys`: OpenID Connect
//! relying parties kept in the store, and signing-key rotation.

use anyhow::{Context, bail};
use clap::Subcommand;
use idp::Idp;
use idp::oidc::ClientConfig;
use idp::oidc::keys::{Alg, KeySet};
use serde_json::json;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Registers a client. A confidential client's secret is generated and
    /// printed once; only its SHA-256 is stored.
    Add {
        #[arg(long)]
        client_id: String,
        /// A public client (native or single-page app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Repeatable.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Repeatable.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Repeatable; default authorization_code and refresh_token.
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Repeatable; default every supported scope.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// The portal application whose assignments decide who may sign in.
        #[arg(long)]
        application: Option<String>,
        /// RS256 or ES256.
        #[arg(long, default_value = "RS256")]
        alg: String,
        #[arg(long)]
        require_mfa: bool,
        #[arg(long)]
        initiate_login_uri: Option<String>,
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
    },
    List,
    /// Removes a client added here (configured ones live in the file) and
    /// revokes every token issued to it.
    Remove {
        client_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Adds a new signing key that becomes the signer; the old one stays in
    /// the JWKS until `oidc.key_retention` has passed.
    Rotate {
        /// RS256 or ES256; both when absent.
        #[arg(long)]
        alg: Option<String>,
    },
    /// Adds a new SAML signing certificate that becomes the signer; the old
    /// one stays in the metadata until `saml.cert_overlap` has passed.
    RotateSaml,
    List,
}

fn out(json_mode: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json_mode {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

async fn audit(idp: &Idp, event: &str, detail: &str) {
    idp::audit::record(
        &idp.store,
        idp::clock::now(),
        idp::audit::Event::new(event, idp::audit::Outcome::Success)
            .ip(Some("admin-cli"))
            .detail(detail.to_string()),
    )
    .await;
}

pub async fn clients(idp: &Idp, cmd: ClientCommand, j: bool) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Add {
            client_id,
            public,
            redirect_uris,
            post_logout_redirect_uris,
            grants,
            scopes,
            application,
            alg,
            require_mfa,
            initiate_login_uri,
            backchannel_logout_uri,
        } => {
            let secret = (!public).then(idp::crypto::random_token);
            let mut client: ClientConfig = serde_json::from_value(json!({
                "client_id": client_id,
                "redirect_uris": redirect_uris,
                "post_logout_redirect_uris": post_logout_redirect_uris,
                "application": application,
                "id_token_signed_response_alg": alg,
                "require_mfa": require_mfa,
                "initiate_login_uri": initiate_login_uri,
                "backchannel_logout_uri": backchannel_logout_uri,
            }))?;
            if !grants.is_empty() {
                client.grant_types = grants;
            }
            if !scopes.is_empty() {
                client.scopes = scopes;
            }
            client.client_secret_hash = secret
                .as_ref()
                .map(|s| format!("sha256:{}", idp::crypto::sha256_hex(s.as_bytes())));
            idp.add_oidc_client(&client).await?;
            audit(idp, "admin.oidc.client.add", &client.client_id).await;
            out(
                j,
                json!({"client_id": client.client_id, "client_secret": secret}),
                || match &secret {
                    Some(s) => format!(
                        "added client {}\nclient_secret: {s}\n(shown once; only its hash is stored)",
                        client.client_id
                    ),
                    None => format!("added public client {}", client.client_id),
                },
            );
        }
        ClientCommand::List => {
            let all = idp.oidc_clients().await?;
            out(
                j,
                json!(
                    all.iter()
                        .map(|(c, from)| json!({
                            "client_id": c.client_id, "source": from, "public": c.is_public(),
                            "grant_types": c.grant_types, "redirect_uris": c.redirect_uris,
                            "application": c.application,
                        }))
                        .collect::<Vec<_>>()
                ),
                || {
                    all.iter()
                        .map(|(c, from)| {
                            format!(
                                "{:<24} {:<7} {:<12} {}",
                                c.client_id,
                                from,
                                if c.is_public() {
                                    "public"
                                } else {
                                    "confidential"
                                },
                                c.redirect_uris.join(" ")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
        }
        ClientCommand::Remove { client_id } => {
            if idp
                .config
                .oidc
                .clients
                .iter()
                .any(|c| c.client_id == client_id)
            {
                bail!("{client_id} is declared in the configuration file: remove it there");
            }
            if !idp
                .store
                .remove_oidc_client(&client_id, idp::clock::now())
                .await?
            {
                bail!("no client with id {client_id:?}");
            }
            audit(idp, "admin.oidc.client.remove", &client_id).await;
            out(j, json!({"removed": client_id}), || {
                format!("removed client {client_id}; its tokens are revoked")
            });
        }
    }
    Ok(())
}

pub async fn keys(idp: &Idp, cmd: KeyCommand, j: bool) -> anyhow::Result<()> {
    // Make sure the first keys exist, so a rotation retires a real key.
    idp.oidc_keys().await?;
    match cmd {
        KeyCommand::RotateSaml => crate::admin_saml::rotate(idp, j).await?,
        KeyCommand::Rotate { alg } => {
            let algs = match alg.as_deref() {
                None => Alg::ALL.to_vec(),
                Some(a) => vec![
                    Alg::parse(a)
                        .with_context(|| format!("unknown algorithm {a:?} (RS256 or ES256)"))?,
                ],
            };
            let mut kids = Vec::new();
            for alg in algs {
                let kid =
                    KeySet::rotate(&idp.store, &idp.keys.secret_box(), alg, idp::clock::now())
                        .await?;
                audit(
                    idp,
                    "admin.oidc.key.rotate",
                    &format!("{} {kid}", alg.as_str()),
                )
                .await;
                kids.push(json!({"alg": alg.as_str(), "kid": kid}));
            }
            out(j, json!(kids), || {
                kids.iter()
                    .map(|k| {
                        format!(
                            "new {} signing key {}",
                            k["alg"].as_str().unwrap_or(""),
                            k["kid"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        KeyCommand::List => {
            let rows = idp.store.oidc_keys().await?;
            let saml = crate::admin_saml::list(idp).await?;
            out(
                j,
                json!(
                    rows.iter()
                        .map(|r| json!({"kid": r.kid, "alg": r.alg, "created_at": r.created_at, "retired_at": r.retired_at}))
                        .chain(saml.iter().cloned())
                        .collect::<Vec<_>>()
                ),
                || {
                    rows.iter()
                        .map(|r| (r.kid.as_str(), r.alg.as_str(), r.created_at, r.retired_at))
                        .chain(saml.iter().map(|v| {
                            (
                                v["kid"].as_str().unwrap_or(""),
                                "SAML",
                                v["created_at"].as_i64().unwrap_or(0),
                                v["retired_at"].as_i64(),
                            )
                        }))
                        .map(|(kid, alg, created, retired)| {
                            format!(
                                "{:<18} {} created {} {}",
                                kid,
                                alg,
                                idp::clock::date(created),
                                if retired.is_some() { "retired" } else { "signing" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
        }
    }
    Ok(())
}
