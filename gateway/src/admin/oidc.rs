//! `portcullis admin clients` (OpenID Connect relying parties kept in the
//! store) and `portcullis admin keys` (OIDC and SAML signing keys).

use clap::Subcommand;
use idp::Idp;
use idp::admin::{Actor, keys, oidc};
use serde_json::json;

use super::out;

#[derive(Debug, Subcommand)]
pub(super) enum ClientCommand {
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
        /// The client looks sessions up by `sid` (mod_auth_openidc does):
        /// it gets one logout token per session, each naming its `sid`.
        #[arg(long, requires = "backchannel_logout_uri")]
        backchannel_logout_session_required: bool,
    },
    /// Every client, from the file and from the store.
    List,
    /// Removes a client added here (configured ones live in the file) and
    /// revokes every token issued to it.
    Remove { client_id: String },
    /// Gives a confidential client added here a new secret, printed once;
    /// the old one stops working at once.
    RotateSecret { client_id: String },
}

#[derive(Debug, Subcommand)]
pub(super) enum KeyCommand {
    /// Adds a new signing key that becomes the signer; the old one stays in
    /// the JWKS until `oidc.key_retention` has passed.
    Rotate {
        /// RS256 or ES256; both when absent.
        #[arg(long)]
        alg: Option<String>,
    },
    /// Adds a new SAML signing certificate: published in the metadata at
    /// once, signing after `saml.cert_overlap` (so SPs that refresh metadata
    /// trust it first); the old one signs until then and stays published for
    /// the overlap after. --now switches at once (a compromised key).
    RotateSaml {
        #[arg(long)]
        now: bool,
    },
    /// Every signing key and certificate, current and retired.
    List,
}

pub(super) async fn clients(
    idp: &Idp,
    actor: &Actor,
    cmd: ClientCommand,
    j: bool,
) -> anyhow::Result<()> {
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
            backchannel_logout_session_required,
        } => {
            let (client, secret) = oidc::add(
                idp,
                actor,
                oidc::NewClient {
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
                    backchannel_logout_session_required,
                },
            )
            .await?;
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
            let all = oidc::list(idp).await?;
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
        ClientCommand::RotateSecret { client_id } => {
            let secret = oidc::rotate_secret(idp, actor, &client_id).await?;
            out(
                j,
                json!({"client_id": client_id, "client_secret": secret}),
                || {
                    format!(
                        "new secret for client {client_id}; the old one no longer works\nclient_secret: {secret}\n(shown once; only its hash is stored)"
                    )
                },
            );
        }
        ClientCommand::Remove { client_id } => {
            oidc::remove(idp, actor, &client_id).await?;
            out(j, json!({"removed": client_id}), || {
                format!("removed client {client_id}; its tokens are revoked")
            });
        }
    }
    Ok(())
}

pub(super) async fn keys(idp: &Idp, actor: &Actor, cmd: KeyCommand, j: bool) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::RotateSaml { now: true } => {
            let id = keys::rotate_saml_now(idp, actor).await?;
            let overlap = humantime::format_duration(idp.config.saml.cert_overlap).to_string();
            out(
                j,
                json!({"id": id, "signs_from": idp::clock::now()}),
                || {
                    format!(
                        "new SAML signing certificate {id} signs now; SPs that have not fetched the metadata since refuse our responses until they do. The previous one stays in the metadata for {overlap}"
                    )
                },
            );
        }
        KeyCommand::RotateSaml { now: false } => {
            let (id, overlap) = keys::rotate_saml(idp, actor).await?;
            let signs_from = idp::clock::now() + overlap.as_secs() as i64;
            let overlap = humantime::format_duration(overlap).to_string();
            out(
                j,
                json!({"id": id, "signs_from": signs_from, "overlap": overlap}),
                || {
                    format!(
                        "new SAML certificate {id} is in the metadata now and takes over signing in {overlap}, at {} UTC; SPs that load our metadata by hand need it before then. The current one signs until the switch and stays in the metadata for {overlap} after",
                        idp::clock::date_time(signs_from)
                    )
                },
            );
        }
        KeyCommand::Rotate { alg } => {
            let kids = keys::rotate_oidc(idp, actor, alg.as_deref()).await?;
            out(
                j,
                json!(
                    kids.iter()
                        .map(|(alg, kid)| json!({"alg": alg.as_str(), "kid": kid}))
                        .collect::<Vec<_>>()
                ),
                || {
                    kids.iter()
                        .map(|(alg, kid)| format!("new {} signing key {kid}", alg.as_str()))
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
        }
        KeyCommand::List => {
            let all = keys::list(idp).await?;
            let now = idp::clock::now();
            out(
                j,
                json!(
                    all.iter()
                        .map(|k| json!({"kid": k.kid, "alg": k.alg, "created_at": k.created_at, "retired_at": k.retired_at, "activates_at": k.activates_at, "state": k.state(now)}))
                        .collect::<Vec<_>>()
                ),
                || {
                    all.iter()
                        .map(|k| {
                            format!(
                                "{:<18} {} created {} {}",
                                k.kid,
                                if k.saml { "SAML" } else { k.alg.as_str() },
                                idp::clock::date(k.created_at),
                                k.state(now)
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
