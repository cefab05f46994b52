//! `portcullis admin apps`.

use clap::Subcommand;
use idp::Idp;
use idp::admin::{Actor, apps};
use serde_json::json;

use super::out;

#[derive(Debug, Subcommand)]
pub(super) enum AppCommand {
    /// Adds a tile to the portal.
    Add {
        /// The name on the tile (and what OIDC clients and SAML SPs refer to).
        #[arg(long)]
        name: String,
        /// Where the tile goes.
        #[arg(long)]
        launch_url: String,
        /// One line under the name.
        #[arg(long, default_value = "")]
        description: String,
        /// A page about the application ("details" on the tile).
        #[arg(long)]
        detail_url: Option<String>,
        /// An https image for the tile.
        #[arg(long)]
        logo_url: Option<String>,
        /// Assign to these groups (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Every application and the groups it is assigned to.
    List,
    /// Lets a group's members see and open the application. Applications
    /// of gateway policies take their groups from the policy file instead.
    Assign {
        /// The application's name.
        app: String,
        /// The group's name.
        group: String,
    },
}

pub(super) async fn run(idp: &Idp, actor: &Actor, cmd: AppCommand, j: bool) -> anyhow::Result<()> {
    match cmd {
        AppCommand::Add {
            name,
            launch_url,
            description,
            detail_url,
            logo_url,
            groups,
        } => {
            let app = apps::add(
                idp,
                actor,
                apps::NewApp {
                    name,
                    launch_url,
                    description,
                    detail_url,
                    logo_url,
                    groups,
                },
            )
            .await?;
            out(j, json!(app), || {
                format!("added application {} ({})", app.name, app.id)
            });
        }
        AppCommand::List => {
            let all = apps::list(idp).await?;
            out(j, json!(all), || {
                all.iter()
                    .map(|a| format!("{:<30} {}", a.name, a.launch_url))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        AppCommand::Assign { app, group } => {
            let changed = apps::assign(idp, actor, &app, &group).await?;
            out(
                j,
                json!({"app": app, "group": group, "changed": changed}),
                || format!("{app} is assigned to {group}"),
            );
        }
    }
    Ok(())
}
