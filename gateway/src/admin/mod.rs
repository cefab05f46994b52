//! `portcullis admin`: the command line over [`idp::admin`]. This layer only
//! parses arguments, reads files and standard input, and prints; the rules,
//! the writes and the audit records are the core's, shared with the admin
//! console and API.

mod apps;
mod groups;
mod ldap;
mod oidc;
mod saml;
mod scim;
mod settings;
mod users;

use clap::{Args, Subcommand};
use idp::Idp;
use idp::admin::Actor;
use serde_json::json;

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Users: add, list, show, set-password, lock, unlock, reset-mfa, delete.
    #[command(subcommand)]
    Users(users::UserCommand),
    /// Groups: add, list, add-member, remove-member.
    #[command(subcommand)]
    Groups(groups::GroupCommand),
    /// Applications on the portal: add, list, assign.
    #[command(subcommand, alias = "applications")]
    Apps(apps::AppCommand),
    /// Administrator settings: password policy, lockout, profile editing.
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
    /// OpenID Connect clients kept in the store: add, list, remove.
    #[command(subcommand)]
    Clients(Box<oidc::ClientCommand>),
    /// Signing keys: rotate (OIDC), rotate-saml (the SAML certificate), list.
    #[command(subcommand)]
    Keys(oidc::KeyCommand),
    /// SAML service providers kept in the store: add, import-metadata, list, remove.
    #[command(subcommand, name = "saml-sps")]
    SamlSps(Box<saml::SpCommand>),
    /// SCIM provisioning clients and their bearer tokens: add, list, revoke.
    #[command(subcommand, name = "scim-clients")]
    ScimClients(scim::ScimCommand),
    /// LDAP service accounts: add, list, revoke.
    #[command(subcommand, name = "ldap-accounts")]
    LdapAccounts(ldap::LdapAccountCommand),
    /// The newest audit events.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

/// Prints `value` in `--json` mode, else the text.
fn out(json_mode: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json_mode {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

/// The person at the terminal. Under sudo that is the invoking user rather
/// than root. Taken from the environment: whoever runs this can read the
/// database anyway, so the name records intent, not proof. Cron jobs and
/// containers often set no user variable; the uid still tells who ran it.
fn actor() -> Actor {
    let name = ["SUDO_USER", "USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self")
                .ok()
                .map(|m| format!("uid {}", m.uid()))
        })
        .unwrap_or_else(|| "unknown".into());
    Actor::cli(name)
}

pub async fn run(idp: &Idp, args: AdminArgs) -> anyhow::Result<()> {
    let j = args.json;
    let actor = actor();
    match args.command {
        AdminCommand::Users(cmd) => users::run(idp, &actor, cmd, j).await,
        AdminCommand::Groups(cmd) => groups::run(idp, &actor, cmd, j).await,
        AdminCommand::Apps(cmd) => apps::run(idp, &actor, cmd, j).await,
        AdminCommand::Settings(cmd) => settings::run(idp, &actor, cmd, j).await,
        AdminCommand::Clients(cmd) => oidc::clients(idp, &actor, *cmd, j).await,
        AdminCommand::Keys(cmd) => oidc::keys(idp, &actor, cmd, j).await,
        AdminCommand::SamlSps(cmd) => saml::sps(idp, &actor, *cmd, j).await,
        AdminCommand::ScimClients(cmd) => scim::run(idp, &actor, cmd, j).await,
        AdminCommand::LdapAccounts(cmd) => ldap::run(idp, &actor, cmd, j).await,
        AdminCommand::Audit { limit } => audit(idp, limit, j).await,
    }
}

async fn audit(idp: &Idp, limit: i64, j: bool) -> anyhow::Result<()> {
    let rows = idp::admin::audit::recent(idp, limit).await?;
    out(j, json!(rows), || {
        rows.iter()
            .map(|r| {
                format!(
                    "{} {:<24} {:<8} {:<30} {} {}",
                    idp::clock::date(r.at),
                    r.event,
                    r.outcome,
                    r.subject.as_deref().unwrap_or("-"),
                    r.source_ip.as_deref().unwrap_or("-"),
                    r.detail
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}
