//! `portcullis admin ldap-accounts`.

use clap::Subcommand;
use idp::Idp;
use idp::admin::{Actor, ldap_accounts};
use serde_json::json;

use super::out;

#[derive(Debug, Subcommand)]
pub(super) enum LdapAccountCommand {
    /// Adds a service account and prints its bind DN and API key (once).
    Add {
        name: String,
        /// What it may read: users, groups, or both.
        #[arg(long, default_value = "users,groups")]
        grant: String,
    },
    /// Every service account (never its key).
    List,
    /// Revokes an account: its next bind fails.
    Revoke { name: String },
}

pub(super) async fn run(
    idp: &Idp,
    actor: &Actor,
    cmd: LdapAccountCommand,
    j: bool,
) -> anyhow::Result<()> {
    match cmd {
        LdapAccountCommand::Add { name, grant } => {
            let a = ldap_accounts::add(idp, actor, &name, &grant).await?;
            out(j, json!(a), || {
                format!(
                    "added LDAP service account {} (reads {})\nBind DN: {}\nAPI key (shown only now): {}",
                    a.name, a.grants, a.bind_dn, a.key
                )
            });
        }
        LdapAccountCommand::List => {
            let all = ldap_accounts::list(idp).await?;
            out(j, json!(all), || {
                all.iter()
                    .map(|a| {
                        format!(
                            "{:<24} {:<14} {} {}",
                            a.name,
                            a.grants,
                            a.bind_dn,
                            if a.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "active"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        LdapAccountCommand::Revoke { name } => {
            ldap_accounts::revoke(idp, actor, &name).await?;
            out(j, json!({"name": name, "revoked": true}), || {
                format!("revoked LDAP service account {name}")
            });
        }
    }
    Ok(())
}
