//! Which part of the directory a search or compare can touch. The common
//! requests pin one user: an application looking up who signs in
//! (`(uid=alice)`, `(&(objectClass=person)(mail=...))`), or a base search and
//! compare on a user's DN. Those load only that user from the store, through
//! its indexes, instead of building every entry of a large directory. The
//! filter is still evaluated on what is loaded, so a reach only has to be
//! wide enough, never exact.

use ldap3_proto::proto::{LdapFilter, LdapSearchScope};

use super::dn::Dn;

/// More keys than this in one filter and the search reads everything: a
/// handful of indexed lookups beats a scan, hundreds do not.
const MAX_KEYS: usize = 32;

/// How a filter or DN names a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `mail` (the sign-in email), trimmed and lower-cased.
    Mail(String),
    /// `uid`: the username, or the email of a user without one; trimmed and
    /// lower-cased.
    Uid(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The whole directory: users, groups and memberships.
    Everything,
    /// Only the user entries these keys name (and the fixed entries: the
    /// base and its two branches). No group entry can match.
    Users(Vec<Key>),
}

/// The attributes a group entry can carry (see `view::visible`); a
/// comparison on any other attribute is false on every group.
const GROUP_ATTRIBUTES: &[&str] = &[
    "objectClass",
    "cn",
    "member",
    "entryUUID",
    "gidNumber",
    "memberUid",
];

/// The object classes of group entries (and `top`, which every entry has).
const GROUP_CLASSES: &[&str] = &["top", "groupOfNames", "posixGroup"];

pub fn of_search(directory: &Dn, base: &Dn, scope: &LdapSearchScope, filter: &LdapFilter) -> Reach {
    if let Some(key) = user_named(directory, base) {
        // Nothing lies below a user entry.
        return Reach::Users(vec![key]);
    }
    let fixed = base.same(directory)
        || base.same(&Dn::child(directory, "ou", "users"))
        || base.same(&Dn::child(directory, "ou", "groups"));
    if fixed && *scope == LdapSearchScope::Base {
        return Reach::Users(Vec::new());
    }
    let under_users = base.is_within(&Dn::child(directory, "ou", "users"));
    if !under_users && may_match_group(filter) {
        return Reach::Everything;
    }
    match user_keys(filter) {
        Some(keys) => Reach::Users(keys),
        None => Reach::Everything,
    }
}

pub fn of_compare(directory: &Dn, dn: &Dn) -> Reach {
    match user_named(directory, dn) {
        Some(key) => Reach::Users(vec![key]),
        None => Reach::Everything,
    }
}

/// The user a DN names: `mail=<email>,ou=users,<base>`.
fn user_named(directory: &Dn, dn: &Dn) -> Option<Key> {
    let users = Dn::child(directory, "ou", "users");
    match dn.relative_to(&users)? {
        [(attr, value)] if attr == "mail" => Some(Key::Mail(normal(value)?)),
        _ => None,
    }
}

/// The keys of every user the filter can match, or `None` when it does not
/// pin users down.
fn user_keys(filter: &LdapFilter) -> Option<Vec<Key>> {
    let keys = match filter {
        LdapFilter::Equality(attr, value) if attr.eq_ignore_ascii_case("mail") => {
            vec![Key::Mail(normal(value)?)]
        }
        LdapFilter::Equality(attr, value) if attr.eq_ignore_ascii_case("uid") => {
            vec![Key::Uid(normal(value)?)]
        }
        LdapFilter::Equality(attr, value)
            if attr.eq_ignore_ascii_case("objectClass")
                && GROUP_CLASSES[1..]
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(value.trim())) =>
        {
            Vec::new()
        }
        // Any pinned conjunct bounds the whole conjunction.
        LdapFilter::And(parts) => parts.iter().filter_map(user_keys).min_by_key(Vec::len)?,
        LdapFilter::Or(parts) => {
            let mut all = Vec::new();
            for part in parts {
                all.extend(user_keys(part)?);
            }
            all
        }
        _ => return None,
    };
    (keys.len() <= MAX_KEYS).then_some(keys)
}

/// Whether a group entry could match: false only when the filter requires
/// something no group has.
fn may_match_group(filter: &LdapFilter) -> bool {
    let on_groups = |attr: &str| {
        GROUP_ATTRIBUTES
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attr))
    };
    match filter {
        LdapFilter::Equality(attr, value) if attr.eq_ignore_ascii_case("objectClass") => {
            GROUP_CLASSES
                .iter()
                .any(|c| c.eq_ignore_ascii_case(value.trim()))
        }
        LdapFilter::Equality(attr, _)
        | LdapFilter::Approx(attr, _)
        | LdapFilter::Present(attr)
        | LdapFilter::GreaterOrEqual(attr, _)
        | LdapFilter::LessOrEqual(attr, _) => on_groups(attr),
        LdapFilter::Substring(attr, _) => on_groups(attr),
        LdapFilter::And(parts) => parts.iter().all(may_match_group),
        LdapFilter::Or(parts) => parts.iter().any(may_match_group),
        LdapFilter::Not(_) | LdapFilter::Extensible(_) => true,
    }
}

/// A key as the entries compare it (trimmed, lower-cased). Only ASCII: the
/// store lower-cases usernames with SQL `LOWER`, which SQLite applies to
/// ASCII letters only, so another key could miss a user the filter matches.
fn normal(value: &str) -> Option<String> {
    let v = value.trim();
    v.is_ascii().then(|| v.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> LdapFilter {
        ldap3_proto::parse_ldap_filter_str(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    fn dn(s: &str) -> Dn {
        Dn::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn search(base: &str, scope: LdapSearchScope, filter: &str) -> Reach {
        of_search(&dn("dc=x"), &dn(base), &scope, &f(filter))
    }

    use LdapSearchScope::{Base, Subtree};

    #[test]
    fn a_filter_that_pins_users_reads_only_them() {
        let uid = |s: &str| Key::Uid(s.into());
        let mail = |s: &str| Key::Mail(s.into());
        assert_eq!(
            search("ou=users,dc=x", Subtree, "(uid=Alice)"),
            Reach::Users(vec![uid("alice")])
        );
        assert_eq!(
            search(
                "dc=x",
                Subtree,
                "(&(objectClass=inetOrgPerson)(mail= A@X.com ))"
            ),
            Reach::Users(vec![mail("a@x.com")])
        );
        assert_eq!(
            search("dc=x", Subtree, "(|(uid=a)(mail=b@x))"),
            Reach::Users(vec![uid("a"), mail("b@x")])
        );
        assert_eq!(
            search("mail=a@x.com,ou=users,dc=x", Base, "(objectClass=*)"),
            Reach::Users(vec![mail("a@x.com")])
        );
        assert_eq!(
            search("dc=x", Base, "(objectClass=*)"),
            Reach::Users(Vec::new())
        );
        // No user lies under the groups branch: the lookup finds them, the scope drops them.
        assert_eq!(
            search("ou=groups,dc=x", Subtree, "(uid=a)"),
            Reach::Users(vec![uid("a")])
        );
        assert_eq!(
            of_compare(&dn("dc=x"), &dn("mail=a@x.com,ou=users,dc=x")),
            Reach::Users(vec![mail("a@x.com")])
        );
    }

    #[test]
    fn anything_else_reads_everything() {
        for (base, filter) in [
            // A group can match: cn is on groups, and so is a negation.
            ("dc=x", "(cn=Staff)"),
            ("dc=x", "(|(uid=a)(cn=Staff))"),
            ("dc=x", "(!(uid=a))"),
            // Users, but not pinned.
            ("ou=users,dc=x", "(objectClass=person)"),
            ("ou=users,dc=x", "(uid=a*)"),
            ("ou=users,dc=x", "(|(uid=a)(sn=b))"),
            ("ou=users,dc=x", "(!(uid=a))"),
            // A key the store cannot look up case-insensitively.
            ("ou=users,dc=x", "(uid=Ärger)"),
        ] {
            assert_eq!(
                search(base, Subtree, filter),
                Reach::Everything,
                "{base} {filter}"
            );
        }
        assert_eq!(
            of_compare(&dn("dc=x"), &dn("cn=Staff,ou=groups,dc=x")),
            Reach::Everything
        );
        let many = format!(
            "(|{})",
            (0..=MAX_KEYS)
                .map(|i| format!("(uid=u{i})"))
                .collect::<String>()
        );
        assert_eq!(search("ou=users,dc=x", Subtree, &many), Reach::Everything);
    }
}
