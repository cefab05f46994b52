//! `portcullis admin settings`.

use clap::Subcommand;
use idp::Idp;
use idp::admin::{Actor, settings};
use idp::settings::KEYS;
use serde_json::json;

use super::out;

#[derive(Debug, Subcommand)]
pub(super) enum SettingsCommand {
    /// Every setting and its value.
    Show,
    /// Changes one setting.
    #[command(after_help = keys_help())]
    Set {
        /// The setting (listed below).
        key: String,
        /// Its new value.
        value: String,
    },
}

/// The keys `set` takes, one a line with what each means.
fn keys_help() -> String {
    let width = KEYS.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let lines: Vec<String> = KEYS
        .iter()
        .map(|(k, what)| format!("  {k:<width$}  {what}"))
        .collect();
    format!("Settings:\n{}", lines.join("\n"))
}

pub(super) async fn run(
    idp: &Idp,
    actor: &Actor,
    cmd: SettingsCommand,
    j: bool,
) -> anyhow::Result<()> {
    let current = match cmd {
        SettingsCommand::Show => settings::show(idp).await?,
        SettingsCommand::Set { key, value } => settings::set(idp, actor, &key, &value).await?,
    };
    let entries = current.entries();
    out(
        j,
        json!(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
        ),
        || {
            entries
                .iter()
                .zip(KEYS)
                .map(|((k, v), (_, help))| format!("{k:<26} {v:<8} # {help}"))
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}
