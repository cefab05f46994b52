//! `portcullis admin`: operations on the store, for operators and scripts.

use std::io::Read;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use idp::Idp;
use idp::directory::validate_app_url;
use idp::settings::{KEYS, Settings};
use idp::store::{NewApplication, NewUser};
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
    Users(UserCommand),
    /// Groups: add, list, add-member, remove-member.
    #[command(subcommand)]
    Groups(GroupCommand),
    /// Applications on the portal: add, list, assign.
    #[command(subcommand, alias = "applications")]
    Apps(AppCommand),
    /// Administrator settings: password policy, lockout, profile editing.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// OpenID Connect clients kept in the store: add, list, remove.
    #[command(subcommand)]
    Clients(Box<crate::admin_oidc::ClientCommand>),
    /// Signing keys: rotate (OIDC), rotate-saml (the SAML certificate), list.
    #[command(subcommand)]
    Keys(crate::admin_oidc::KeyCommand),
    /// SAML service providers kept in the store: add, import-metadata, list, remove.
    #[command(subcommand, name = "saml-sps")]
    SamlSps(Box<crate::admin_saml::SpCommand>),
    /// The newest audit events.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Debug, Args)]
struct PasswordSource {
    /// The password (visible in the process list: prefer --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordSource {
    fn read(&self) -> anyhow::Result<Option<String>> {
        if self.password_stdin {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the password from stdin")?;
            let s = s.trim_end_matches(['\n', '\r']).to_string();
            if s.is_empty() {
                bail!("no password on standard input");
            }
            return Ok(Some(s));
        }
        Ok(self.password.clone())
    }
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        /// Defaults to the part of the email before the @.
        #[arg(long)]
        username: Option<String>,
        /// Add to these groups (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[command(flatten)]
        password: PasswordSource,
    },
    List,
    Show {
        email: String,
    },
    SetPassword {
        email: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    Lock {
        email: String,
    },
    Unlock {
        email: String,
    },
    Delete {
        email: String,
    },
    /// Remove every second factor (authenticator app, recovery codes) and
    /// end the user's sessions; they enrol again when MFA is required.
    ResetMfa {
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    Add { name: String },
    List,
    AddMember { group: String, email: String },
    RemoveMember { group: String, email: String },
}

#[derive(Debug, Subcommand)]
enum AppCommand {
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

#[derive(Debug, Subcommand)]
enum SettingsCommand {
    Show,
    Set { key: String, value: String },
}

fn out(json_mode: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json_mode {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

async fn group(idp: &Idp, name: &str) -> anyhow::Result<idp::directory::Group> {
    idp.store
        .group_by_name(name)
        .await?
        .with_context(|| format!("no group named {name:?}"))
}

fn user_json(u: &idp::directory::User, groups: &[String]) -> serde_json::Value {
    json!({
        "id": u.id, "email": u.email, "first_name": u.first_name, "last_name": u.last_name,
        "username": u.username, "locked": u.locked.map(|l| l.as_str()),
        "failed_attempts": u.failed_attempts, "password_changed_at": u.password_changed_at,
        "groups": groups, "profile": u.profile,
    })
}

pub async fn run(idp: &Idp, args: AdminArgs) -> anyhow::Result<()> {
    let j = args.json;
    match args.command {
        AdminCommand::Users(cmd) => match cmd {
            UserCommand::Add {
                email,
                first_name,
                last_name,
                username,
                groups,
                password,
            } => {
                let pw = password.read()?;
                let user = idp
                    .add_user(
                        NewUser {
                            email,
                            first_name,
                            last_name,
                            username: username.unwrap_or_default(),
                            password_hash: None,
                        },
                        pw.as_deref(),
                    )
                    .await?;
                for g in &groups {
                    let g = group(idp, g).await?;
                    idp.store.add_member(&g.id, &user.id).await?;
                }
                out(j, user_json(&user, &groups), || {
                    format!("added user {} ({})", user.email, user.id)
                });
            }
            UserCommand::List => {
                let users = idp.store.list_users().await?;
                let mut rows = Vec::new();
                for u in &users {
                    rows.push(user_json(u, &idp.store.groups_of(&u.id).await?));
                }
                out(j, json!(rows), || {
                    users
                        .iter()
                        .map(|u| {
                            let state = u
                                .locked
                                .map(|l| format!("locked ({})", l.as_str()))
                                .unwrap_or_else(|| "active".into());
                            format!("{:<40} {:<30} {state}", u.email, u.display_name())
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            UserCommand::Show { email } => {
                let u = idp.user_by_email(&email).await?;
                let groups = idp.store.groups_of(&u.id).await?;
                out(j, user_json(&u, &groups), || {
                    let mut s = format!(
                        "email:     {}\nid:        {}\nname:      {}\nusername:  {}\nstate:     {}\nfailed:    {}\ngroups:    {}",
                        u.email,
                        u.id,
                        u.display_name(),
                        u.username,
                        u.locked
                            .map(|l| format!("locked ({})", l.as_str()))
                            .unwrap_or_else(|| "active".into()),
                        u.failed_attempts,
                        groups.join(", ")
                    );
                    for (k, v) in &u.profile.0 {
                        s.push_str(&format!("\n{k}: {v}"));
                    }
                    s
                });
            }
            UserCommand::SetPassword { email, password } => {
                let pw = password
                    .read()?
                    .context("give --password or --password-stdin")?;
                idp.admin_set_password(&email, &pw).await?;
                out(j, json!({"email": email, "password_set": true}), || {
                    format!("password set for {email}; their sessions ended")
                });
            }
            UserCommand::Lock { email } => {
                let changed = idp.lock_user(&email).await?;
                out(
                    j,
                    json!({"email": email, "locked": true, "changed": changed}),
                    || {
                        if changed {
                            format!("locked {email}; their sessions ended")
                        } else {
                            format!("{email} was already locked")
                        }
                    },
                );
            }
            UserCommand::Unlock { email } => {
                let changed = idp.unlock_user(&email).await?;
                out(
                    j,
                    json!({"email": email, "locked": false, "changed": changed}),
                    || format!("unlocked {email}"),
                );
            }
            UserCommand::ResetMfa { email } => {
                let removed = idp.reset_mfa(&email).await?;
                out(
                    j,
                    json!({"email": email, "mfa_reset": true, "removed": removed}),
                    || format!("removed the second factors of {email}"),
                );
            }
            UserCommand::Delete { email } => {
                idp.delete_user(&email).await?;
                out(j, json!({"email": email, "deleted": true}), || {
                    format!("deleted {email}")
                });
            }
        },
        AdminCommand::Groups(cmd) => match cmd {
            GroupCommand::Add { name } => {
                let name = name.trim().to_string();
                if name.is_empty() || name.len() > 100 {
                    bail!("a group name must have 1 to 100 characters");
                }
                let g = idp.store.create_group(&name, idp::clock::now()).await?;
                audit(idp, "admin.group.add", &name).await;
                out(j, json!({"id": g.id, "name": g.name}), || {
                    format!("added group {name}")
                });
            }
            GroupCommand::List => {
                let groups = idp.store.list_groups().await?;
                out(
                    j,
                    json!(
                        groups
                            .iter()
                            .map(|(g, n)| json!({"id": g.id, "name": g.name, "members": n}))
                            .collect::<Vec<_>>()
                    ),
                    || {
                        groups
                            .iter()
                            .map(|(g, n)| format!("{:<30} {n} members", g.name))
                            .collect::<Vec<_>>()
                            .join("\n")
                    },
                );
            }
            GroupCommand::AddMember { group: name, email } => {
                let g = group(idp, &name).await?;
                let u = idp.user_by_email(&email).await?;
                let added = idp.store.add_member(&g.id, &u.id).await?;
                audit(idp, "admin.group.add_member", &format!("{email} to {name}")).await;
                out(
                    j,
                    json!({"group": name, "email": u.email, "changed": added}),
                    || format!("{} is in {name}", u.email),
                );
            }
            GroupCommand::RemoveMember { group: name, email } => {
                let g = group(idp, &name).await?;
                let u = idp.user_by_email(&email).await?;
                let removed = idp.store.remove_member(&g.id, &u.id).await?;
                audit(
                    idp,
                    "admin.group.remove_member",
                    &format!("{email} from {name}"),
                )
                .await;
                out(
                    j,
                    json!({"group": name, "email": u.email, "changed": removed}),
                    || format!("{} is not in {name}", u.email),
                );
            }
        },
        AdminCommand::Apps(cmd) => match cmd {
            AppCommand::Add {
                name,
                launch_url,
                description,
                detail_url,
                logo_url,
                groups,
            } => {
                let name = name.trim().to_string();
                if name.is_empty() || name.len() > 100 {
                    bail!("--name must have 1 to 100 characters");
                }
                validate_app_url("--launch-url", &launch_url, false).map_err(anyhow::Error::msg)?;
                if let Some(u) = &detail_url {
                    validate_app_url("--detail-url", u, false).map_err(anyhow::Error::msg)?;
                }
                if let Some(u) = &logo_url {
                    validate_app_url("--logo-url", u, true).map_err(anyhow::Error::msg)?;
                }
                let app = idp
                    .store
                    .create_application(
                        &NewApplication {
                            name: name.clone(),
                            description,
                            detail_url,
                            logo_url,
                            launch_url,
                        },
                        idp::clock::now(),
                    )
                    .await?;
                for g in &groups {
                    let g = group(idp, g).await?;
                    idp.store.assign_application(&app.id, &g.id).await?;
                }
                audit(idp, "admin.app.add", &name).await;
                out(j, json!(app), || {
                    format!("added application {name} ({})", app.id)
                });
            }
            AppCommand::List => {
                let apps = idp.store.list_applications().await?;
                out(j, json!(apps), || {
                    apps.iter()
                        .map(|a| format!("{:<30} {}", a.name, a.launch_url))
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            AppCommand::Assign { app, group: gname } => {
                let a = idp
                    .store
                    .application_by_name(&app)
                    .await?
                    .with_context(|| format!("no application named {app:?}"))?;
                let g = group(idp, &gname).await?;
                let changed = idp.store.assign_application(&a.id, &g.id).await?;
                audit(idp, "admin.app.assign", &format!("{app} to {gname}")).await;
                out(
                    j,
                    json!({"app": app, "group": gname, "changed": changed}),
                    || format!("{app} is assigned to {gname}"),
                );
            }
        },
        AdminCommand::Settings(cmd) => {
            let settings = match cmd {
                SettingsCommand::Show => Settings::load(&idp.store).await?,
                SettingsCommand::Set { key, value } => {
                    let s = Settings::set(&idp.store, &key, &value).await?;
                    audit(
                        idp,
                        "admin.settings.set",
                        &format!("{key} = {}", value.trim()),
                    )
                    .await;
                    s
                }
            };
            let entries = settings.entries();
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
        }
        AdminCommand::Clients(cmd) => crate::admin_oidc::clients(idp, *cmd, j).await?,
        AdminCommand::Keys(cmd) => crate::admin_oidc::keys(idp, cmd, j).await?,
        AdminCommand::SamlSps(cmd) => crate::admin_saml::sps(idp, *cmd, j).await?,
        AdminCommand::Audit { limit } => {
            let rows = idp.store.recent_audit(limit.clamp(1, 10_000)).await?;
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
        }
    }
    Ok(())
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
