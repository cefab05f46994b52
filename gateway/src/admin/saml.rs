//! `portcullis admin saml-sps`: SAML service providers kept in the store.

use anyhow::Context;
use clap::Subcommand;
use idp::Idp;
use idp::admin::{Actor, saml};
use idp::saml::ServiceProviderConfig;
use idp::saml::attributes::{AttributeRule, Profile};
use serde_json::json;

use super::out;

/// What attributes an SP is given beyond the basic set.
#[derive(Debug, clap::Args)]
pub(super) struct ReleaseArgs {
    /// An attribute NAME=SOURCE (repeatable): a `urn:` name is sent in the
    /// uri NameFormat (with its friendly name when it is a standard OID),
    /// others in basic. SOURCE: email, first_name, last_name, display_name,
    /// username, id, groups or profile.<field>.
    #[arg(long = "attribute", value_parser = parse_rule)]
    attributes: Vec<AttributeRule>,
    /// eduperson: the standard inetOrgPerson and eduPerson OIDs as well
    /// (mail, givenName, sn, displayName, cn, uid, eduPersonPrincipalName,
    /// isMemberOf, telephoneNumber), as Shibboleth's attribute map expects.
    #[arg(long, value_parser = parse_profile)]
    attribute_profile: Option<Profile>,
}

impl ReleaseArgs {
    fn release(self) -> saml::Release {
        saml::Release {
            attribute_map: self.attributes,
            attribute_profile: self.attribute_profile,
        }
    }
}

fn parse_rule(s: &str) -> Result<AttributeRule, String> {
    AttributeRule::parse(s).ok_or_else(|| format!("{s:?}: expected NAME=SOURCE"))
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::parse(s).ok_or_else(|| format!("{s:?}: the only profile is eduperson"))
}

#[derive(Debug, Subcommand)]
pub(super) enum SpCommand {
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
        #[command(flatten)]
        release: ReleaseArgs,
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
        #[command(flatten)]
        release: ReleaseArgs,
    },
    /// Every service provider, from the file and from the store.
    List,
    /// Removes a service provider added here (configured ones live in the file).
    Remove { entity_id: String },
}

fn read(path: &std::path::Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the {what}", path.display()))
}

fn added(sp: &ServiceProviderConfig, j: bool) {
    out(
        j,
        json!({"entity_id": sp.entity_id, "acs": sp.acs, "slo_url": sp.slo_url}),
        || format!("added service provider {}", sp.entity_id),
    );
}

pub(super) async fn sps(idp: &Idp, actor: &Actor, cmd: SpCommand, j: bool) -> anyhow::Result<()> {
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
            release,
        } => {
            let certificate = match certificate {
                Some(p) => Some(read(&p, "certificate")?),
                None => None,
            };
            let sp = saml::add(
                idp,
                actor,
                saml::NewSp {
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
                    release: release.release(),
                },
            )
            .await?;
            added(&sp, j);
        }
        SpCommand::ImportMetadata {
            file,
            application,
            sign,
            require_mfa,
            relay_state,
            release,
        } => {
            let xml = read(&file, "metadata")?;
            let sp = saml::import_metadata(
                idp,
                actor,
                &xml,
                saml::MetadataOptions {
                    application,
                    sign,
                    require_mfa,
                    relay_state,
                    release: release.release(),
                },
            )
            .await?;
            added(&sp, j);
        }
        SpCommand::List => {
            let all = saml::list(idp).await?;
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
            saml::remove(idp, actor, &entity_id).await?;
            out(j, json!({"removed": entity_id}), || {
                format!("removed service provider {entity_id}")
            });
        }
    }
    Ok(())
}
