//! `portcullis admin users`.

use std::io::Read;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use idp::Idp;
use idp::admin::{Actor, users};
use idp::directory::User;
use idp::roles::Role;
use serde_json::json;

use super::out;

#[derive(Debug, Args)]
pub(super) struct PasswordSource {
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
pub(super) enum UserCommand {
    /// Adds a user; without a password they sign in by reset link or federation.
    Add {
        /// The company email: the sign-in name.
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
        /// Make them an administrator: admin (everything), helpdesk (unlock,
        /// reset MFA, reset links, sessions) or auditor (read only).
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Gives the user an administrator role (admin, helpdesk, auditor), or
    /// takes it away with "none"; taking it away ends their sessions.
    SetRole {
        email: String,
        #[arg(value_parser = parse_role_or_none)]
        role: RoleOrNone,
    },
    /// Every user, with their groups and lock state.
    List,
    /// One user's profile, groups and lock state.
    Show { email: String },
    /// Sets a new password (it must meet the policy) and ends the user's sessions.
    SetPassword {
        email: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Locks the account (an administrator's suspension) and ends its sessions.
    Lock { email: String },
    /// Lifts any lock (suspension, failed attempts, expired password).
    Unlock { email: String },
    /// Deletes the user, their sessions, factors and keys.
    Delete { email: String },
    /// Remove every second factor (authenticator app, recovery codes) and
    /// end the user's sessions; they enrol again when MFA is required.
    ResetMfa { email: String },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?} is not a role: use admin, helpdesk or auditor"))
}

#[derive(Debug, Clone, Copy)]
pub(super) struct RoleOrNone(Option<Role>);

fn parse_role_or_none(s: &str) -> Result<RoleOrNone, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(RoleOrNone(None));
    }
    parse_role(s)
        .map(|r| RoleOrNone(Some(r)))
        .map_err(|e| format!("{e}, or none"))
}

fn user_json(u: &User, groups: &[String]) -> serde_json::Value {
    json!({
        "admin_role": u.admin_role,
        "id": u.id, "email": u.email, "first_name": u.first_name, "last_name": u.last_name,
        "username": u.username, "locked": u.locked.map(|l| l.as_str()),
        "failed_attempts": u.failed_attempts, "password_changed_at": u.password_changed_at,
        "groups": groups, "profile": u.profile, "external_id": u.external_id,
    })
}

fn state(u: &User) -> String {
    u.locked
        .map(|l| format!("locked ({})", l.as_str()))
        .unwrap_or_else(|| "active".into())
}

pub(super) async fn run(idp: &Idp, actor: &Actor, cmd: UserCommand, j: bool) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            email,
            first_name,
            last_name,
            username,
            groups,
            role,
            password,
        } => {
            let password = password.read()?;
            let v = users::add(
                idp,
                actor,
                users::NewUser {
                    email,
                    first_name,
                    last_name,
                    username,
                    password,
                    groups,
                    role,
                    ..Default::default()
                },
            )
            .await?;
            out(j, user_json(&v.user, &v.groups), || {
                format!("added user {} ({})", v.user.email, v.user.id)
            });
        }
        UserCommand::List => {
            let all = users::list(idp).await?;
            out(
                j,
                json!(
                    all.iter()
                        .map(|v| user_json(&v.user, &v.groups))
                        .collect::<Vec<_>>()
                ),
                || {
                    all.iter()
                        .map(|v| {
                            let u = &v.user;
                            format!("{:<40} {:<30} {}", u.email, u.display_name(), state(u))
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
        }
        UserCommand::Show { email } => {
            let v = users::show(idp, &email).await?;
            let (u, groups) = (&v.user, &v.groups);
            out(j, user_json(u, groups), || {
                let mut s = format!(
                    "email:     {}\nid:        {}\nname:      {}\nusername:  {}\nstate:     {}\nfailed:    {}\ngroups:    {}",
                    u.email,
                    u.id,
                    u.display_name(),
                    u.username,
                    state(u),
                    u.failed_attempts,
                    groups.join(", ")
                );
                if let Some(e) = &u.external_id {
                    s.push_str(&format!("\nexternal:  {e}"));
                }
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
            users::set_password(idp, actor, &email, &pw).await?;
            out(j, json!({"email": email, "password_set": true}), || {
                format!("password set for {email}; their sessions ended")
            });
        }
        UserCommand::Lock { email } => {
            let changed = users::lock(idp, actor, &email).await?;
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
            let changed = users::unlock(idp, actor, &email).await?;
            out(
                j,
                json!({"email": email, "locked": false, "changed": changed}),
                || format!("unlocked {email}"),
            );
        }
        UserCommand::ResetMfa { email } => {
            let removed = users::reset_mfa(idp, actor, &email).await?;
            out(
                j,
                json!({"email": email, "mfa_reset": true, "removed": removed}),
                || format!("removed the second factors of {email}"),
            );
        }
        UserCommand::SetRole { email, role } => {
            let u = idp::admin::roles::set(idp, actor, &email, role.0).await?;
            out(
                j,
                json!({"email": u.email, "admin_role": u.admin_role}),
                || match u.admin_role {
                    Some(r) => format!("{} is now {}", u.email, r.describe()),
                    None => format!("{} has no administrator role", u.email),
                },
            );
        }
        UserCommand::Delete { email } => {
            users::delete(idp, actor, &email).await?;
            out(j, json!({"email": email, "deleted": true}), || {
                format!("deleted {email}")
            });
        }
    }
    Ok(())
}
