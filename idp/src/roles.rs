//! Administrator roles and what each may do: the one table the admin
//! console, the admin API and the CLI's help all read. Whether a person
//! holds a role (a directory attribute or a configured group) is decided in
//! `admin::roles`; this module only knows the roles themselves.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A role that opens the admin area. Without one a user is an ordinary
/// user, and every admin page and API call answers 403.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything an administrator can see, changes nothing.
    Auditor,
    /// Helps users back in: unlock, reset MFA, send a reset link, end
    /// sessions. No settings, clients or keys.
    Helpdesk,
    /// Everything.
    Admin,
}

/// What an administrative operation needs. Each front end maps its routes
/// onto these; which role holds which is decided here only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// See users, groups, applications, clients, settings, keys, the audit log.
    Read,
    /// Unlock, reset MFA, send a reset link, end sessions.
    SupportUsers,
    /// Create, edit, lock and delete users and groups; change memberships
    /// and roles.
    WriteDirectory,
    /// Applications, OIDC clients, SAML SPs, federation, settings, keys.
    Configure,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Helpdesk, Role::Auditor];

    pub fn allows(self, p: Permission) -> bool {
        match p {
            Permission::Read => true,
            Permission::SupportUsers => matches!(self, Role::Admin | Role::Helpdesk),
            Permission::WriteDirectory | Permission::Configure => self == Role::Admin,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Helpdesk => "helpdesk",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "helpdesk" | "help-desk" | "help_desk" => Some(Role::Helpdesk),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }

    /// The OAuth scope an API client is granted this role with.
    pub fn scope(self) -> &'static str {
        match self {
            Role::Admin => "portcullis:admin",
            Role::Helpdesk => "portcullis:helpdesk",
            Role::Auditor => "portcullis:audit",
        }
    }

    /// The role a granted scope stands for, if it is one of ours.
    pub fn from_scope(scope: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|r| r.scope() == scope)
    }

    /// What the role may do, in words, for help texts and the console.
    pub fn describe(self) -> &'static str {
        match self {
            Role::Admin => "full administrator: everything",
            Role::Helpdesk => {
                "help desk: unlock users, reset MFA, send reset links, end sessions; no settings, clients or keys"
            }
            Role::Auditor => "auditor: reads everything, changes nothing",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        use Permission::*;
        let table = [
            (Role::Admin, [true, true, true, true]),
            (Role::Helpdesk, [true, true, false, false]),
            (Role::Auditor, [true, false, false, false]),
        ];
        for (role, want) in table {
            let got = [Read, SupportUsers, WriteDirectory, Configure].map(|p| role.allows(p));
            assert_eq!(got, want, "{role}");
        }
    }

    #[test]
    fn names_and_scopes_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(Role::from_scope(r.scope()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::from_scope("openid"), None);
    }
}
