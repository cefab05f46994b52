//! `portcullis admin saml-sps` (SAML service providers kept in the store) and
//! `portcullis admin keys rotate-saml` (a new IdP signing certificate).

use anyhow::{Context, bail};
use clap::Subcommand;
use idp::Idp;
use idp::saml::ServiceProviderConfig;
use idp::saml::keys::SamlKeys;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub enum SpCommand {
    /// Registers a service provider.
    Add {
        #[arg(long)]
        entity_id: String,
        /// An HTTP-POST assertion consumer service URL; repeatable, the first is the default.
        #[arg(long = "acs", required = true)]
        acs: Vec<String>,
        /// The portal application whose assignments decide who may sign in.
        #[arg(long)]
        application: String,
        #[arg(long)]
        slo_url: Option<String>,
        /// HTTP-Redirect or HTTP-POST.
        #[arg(long, default_value = "HTTP-Redirect")]
        slo_binding: String,
        /// A PEM file with the SP's signing certificate.
        #[arg(long)]
        certificate: Option<std::path::PathBuf>,
        #[arg(long)]
        require_signed_requests: bool,
        /// emailAddress, persistent, transient or unspecified.
        #[arg(long, default_value = "emailAddress")]
        name_id_format: String,
        /// response, assertion or both.
        #[arg(long, default_value = "both")]
        sign: String,
        #[arg(long)]
        require_mfa: bool,
        /// RelayState of an IdP-initiated sign-in from the portal tile.
        #[arg(long)]
        relay_state: Option<String>,
    },
    /// Registers a service provider from its metadata XML.
    ImportMetadata {
        file: std::path::PathBuf,
        #[arg(long)]
        application: String,
        /// response, assertion or both.
        #[arg(long, default_value = "both")]
        sign: String,
        #[arg(long)]
        require_mfa: bool,
        #[arg(long)]
        relay_state: Option<String>,
    },
    List,
    /// Removes a service provider added here (configured ones live in the file).
    Remove {
        entity_id: String,
    },
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

fn sign_what(s: &str) -> anyhow::Result<idp::saml::config::SignWhat> {
    serde_json::from_value(json!(s))
        .with_context(|| format!("--sign {s:?}: response, assertion or both"))
}

async fn register(idp: &Idp, sp: ServiceProviderConfig, j: bool) -> anyhow::Result<()> {
    idp.add_saml_sp(&sp).await?;
    audit(idp, "admin.saml.sp.add", &sp.entity_id).await;
    out(
        j,
        json!({"entity_id": sp.entity_id, "acs": sp.acs, "slo_url": sp.slo_url}),
        || format!("added service provider {}", sp.entity_id),
    );
    Ok(())
}

pub async fn sps(idp: &Idp, cmd: SpCommand, j: bool) -> anyhow::Result<()> {
    match cmd {
        SpCommand::Add {
            entity_id,
            acs,
            application,
            slo_url,
            slo_binding,
            certificate,
            require_signed_requests,
            name_id_format,
            sign,
            require_mfa,
            relay_state,
        } => {
            let certificate = match certificate {
                Some(p) => Some(
                    std::fs::read_to_string(&p)
                        .with_context(|| format!("{}: cannot read the certificate", p.display()))?,
                ),
                None => None,
            };
            let mut sp: ServiceProviderConfig = serde_json::from_value(json!({
                "entity_id": entity_id,
                "acs": acs.iter().map(|u| json!({"url": u})).collect::<Vec<_>>(),
                "application": application,
                "slo_url": slo_url,
                "slo_binding": slo_binding,
                "certificate": certificate,
                "require_signed_requests": require_signed_requests,
                "name_id_format": name_id_format,
                "require_mfa": require_mfa,
                "relay_state": relay_state,
            }))?;
            sp.sign = sign_what(&sign)?;
            register(idp, sp, j).await?;
        }
        SpCommand::ImportMetadata {
            file,
            application,
            sign,
            require_mfa,
            relay_state,
        } => {
            let xml = std::fs::read_to_string(&file)
                .with_context(|| format!("{}: cannot read the metadata", file.display()))?;
            let mut sp = idp::saml::sps::from_metadata(&xml, &application)?;
            sp.sign = sign_what(&sign)?;
            sp.require_mfa = require_mfa;
            sp.relay_state = relay_state;
            register(idp, sp, j).await?;
        }
        SpCommand::List => {
            let all = idp.saml_sps().await?;
            out(
                j,
                json!(
                    all.iter()
                        .map(|(sp, from)| json!({
                            "entity_id": sp.entity_id, "source": from, "acs": sp.acs,
                            "slo_url": sp.slo_url, "application": sp.application,
                            "require_signed_requests": sp.require_signed_requests,
                        }))
                        .collect::<Vec<_>>()
                ),
                || {
                    all.iter()
                        .map(|(sp, from)| {
                            format!(
                                "{:<40} {:<7} {:<20} {}",
                                sp.entity_id,
                                from,
                                sp.application,
                                sp.acs
                                    .iter()
                                    .map(|a| a.url.as_str())
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
        }
        SpCommand::Remove { entity_id } => {
            if idp
                .config
                .saml
                .service_providers
                .iter()
                .any(|s| s.entity_id == entity_id)
            {
                bail!("{entity_id} is declared in the configuration file: remove it there");
            }
            if !idp
                .store
                .remove_saml_sp(&entity_id, idp::clock::now())
                .await?
            {
                bail!("no service provider with entity ID {entity_id:?}");
            }
            audit(idp, "admin.saml.sp.remove", &entity_id).await;
            out(j, json!({"removed": entity_id}), || {
                format!("removed service provider {entity_id}")
            });
        }
    }
    Ok(())
}

/// `keys rotate-saml`: a new signing certificate; the previous one stays in
/// the metadata for `saml.cert_overlap`.
pub async fn rotate(idp: &Idp, j: bool) -> anyhow::Result<()> {
    // Make sure the first certificate exists, so a rotation retires a real one.
    idp.saml_keys().await?;
    let id = SamlKeys::rotate(
        &idp.store,
        &idp.keys.secret_box(),
        &idp.saml_entity_id(),
        idp.config.saml.cert_validity_days,
        idp::clock::now(),
    )
    .await?;
    idp.reload_saml_keys().await;
    // Refreshes the PEM files in <data_dir>/saml/.
    idp.saml_keys().await?;
    audit(idp, "admin.saml.key.rotate", &id).await;
    let overlap = humantime::format_duration(idp.config.saml.cert_overlap).to_string();
    out(j, json!({"id": id, "overlap": overlap}), || {
        format!(
            "new SAML signing certificate {id}; the previous one stays in the metadata for {overlap}"
        )
    });
    Ok(())
}

/// The SAML certificates, for `keys list`.
pub async fn list(idp: &Idp) -> anyhow::Result<Vec<serde_json::Value>> {
    idp.saml_keys().await?;
    Ok(idp
        .store
        .saml_certs()
        .await?
        .iter()
        .map(|r| json!({"kid": r.id, "alg": "SAML RS256", "created_at": r.created_at, "retired_at": r.retired_at}))
        .collect())
}
