//! `portcullis admin groups`.

use clap::Subcommand;
use idp::Idp;
use idp::admin::{Actor, groups};
use serde_json::json;

use super::out;

#[derive(Debug, Subcommand)]
pub(super) enum GroupCommand {
    /// Adds a group.
    Add { name: String },
    /// Every group and its number of members.
    List,
    /// Adds the user with this email to the group.
    AddMember { group: String, email: String },
    /// Removes the user with this email from the group.
    RemoveMember { group: String, email: String },
}

pub(super) async fn run(
    idp: &Idp,
    actor: &Actor,
    cmd: GroupCommand,
    j: bool,
) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Add { name } => {
            let g = groups::add(idp, actor, &name).await?;
            out(j, json!({"id": g.id, "name": g.name}), || {
                format!("added group {}", g.name)
            });
        }
        GroupCommand::List => {
            let all = groups::list(idp).await?;
            out(
                j,
                json!(
                    all.iter()
                        .map(|(g, n)| json!({"id": g.id, "name": g.name, "members": n}))
                        .collect::<Vec<_>>()
                ),
                || {
                    all.iter()
                        .map(|(g, n)| format!("{:<30} {n} members", g.name))
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
        }
        GroupCommand::AddMember { group, email } => {
            let added = groups::add_member(idp, actor, &group, &email).await?;
            let email = idp::directory::normalize_email(&email);
            out(
                j,
                json!({"group": group, "email": email, "changed": added}),
                || format!("{email} is in {group}"),
            );
        }
        GroupCommand::RemoveMember { group, email } => {
            let removed = groups::remove_member(idp, actor, &group, &email).await?;
            let email = idp::directory::normalize_email(&email);
            out(
                j,
                json!({"group": group, "email": email, "changed": removed}),
                || format!("{email} is not in {group}"),
            );
        }
    }
    Ok(())
}
