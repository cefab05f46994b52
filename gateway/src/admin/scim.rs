//! `portcullis admin scim-clients`.

use clap::Subcommand;
use idp::Idp;
use idp::admin::{Actor, scim_clients};
use serde_json::json;

use super::out;

#[derive(Debug, Subcommand)]
pub(super) enum ScimCommand {
    /// Adds a provisioning client and prints its bearer token, once.
    Add { name: String },
    /// Every client: name, token prefix, last use, revoked or not.
    List,
    /// Revokes the client's token at once.
    Revoke { name: String },
}

fn when(ts: Option<i64>) -> String {
    ts.map(idp::clock::date).unwrap_or_else(|| "-".into())
}

pub(super) async fn run(idp: &Idp, actor: &Actor, cmd: ScimCommand, j: bool) -> anyhow::Result<()> {
    match cmd {
        ScimCommand::Add { name } => {
            let new = scim_clients::add(idp, actor, &name).await?;
            out(
                j,
                json!({"id": new.client.id, "name": new.client.name, "token": new.token, "base_url": idp.scim_base()}),
                || {
                    format!(
                        "added SCIM client {}\nSCIM base URL: {}\ntoken (shown once; store it in the provisioning system now):\n{}",
                        new.client.name,
                        idp.scim_base(),
                        new.token
                    )
                },
            );
        }
        ScimCommand::List => {
            let all = scim_clients::list(idp).await?;
            out(j, json!(all), || {
                all.iter()
                    .map(|c| {
                        format!(
                            "{:<24} {}…  created {}  last used {}{}",
                            c.name,
                            c.prefix,
                            idp::clock::date(c.created_at),
                            when(c.last_used_at),
                            if c.revoked_at.is_some() {
                                format!("  revoked {}", when(c.revoked_at))
                            } else {
                                String::new()
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ScimCommand::Revoke { name } => {
            let c = scim_clients::revoke(idp, actor, &name).await?;
            out(j, json!({"name": c.name, "revoked": true}), || {
                format!("revoked SCIM client {}", c.name)
            });
        }
    }
    Ok(())
}
