//! `portcullis admin apps`.

use clap::Subcommand;
use idp::Idp;
use idp::admin::{Actor, apps};
use serde_json::json;

use super::out;

#[derive(Debug, Subcommand)]
pub(super) enum AppCommand {
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        launch_url: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        detail_url: Option<String>,
        #[arg(long)]
        logo_url: Option<String>,
        /// Assign to these groups (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    List,
    Assign {
        app: String,
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
