//! The directory as LDAP entries, cut to what the bound identity may read,
//! and searches over them: scope, filters (evaluated on the visible
//! attributes only), attribute selection, size limits and paging.

use std::collections::HashMap;

use ldap3_proto::proto::{
    LdapCompareRequest, LdapFilter, LdapPartialAttribute, LdapSearchRequest, LdapSearchResultEntry,
    LdapSearchScope, LdapSubstringFilter,
};

use super::dn::{Dn, escape};
use super::reach::{self, Key, Reach};
use super::{Connection, Engine, Identity, LdapError};
use crate::store::{Membership, PosixKind, USERS_WHERE_LIMIT, UserKey};

/// The first POSIX number handed out (below are the system's own ids).
pub const FIRST_POSIX_ID: i64 = 10_000;

pub fn user_dn(base: &Dn, email: &str) -> String {
    format!("mail={},ou=users,{base}", escape(email))
}

pub fn group_dn(base: &Dn, name: &str) -> String {
    format!("cn={},ou=groups,{base}", escape(name))
}

/// One entry: its DN (string and parsed) and attributes with their
/// canonical names.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dn: String,
    parsed: Dn,
    pub attrs: Vec<(&'static str, Vec<String>)>,
}

impl Entry {
    fn new(dn: String, attrs: Vec<(&'static str, Vec<String>)>) -> Self {
        let parsed = Dn::parse(&dn).unwrap_or(Dn { rdns: Vec::new() });
        let attrs = attrs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        Self { dn, parsed, attrs }
    }

    fn get(&self, name: &str) -> Option<&[String]> {
        self.attrs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

fn one(v: impl Into<String>) -> Vec<String> {
    let v = v.into();
    if v.is_empty() { Vec::new() } else { vec![v] }
}

fn many(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Everything the identity may read under the base, in a stable order
/// (base, the two branches, users by email, groups by name).
async fn visible(engine: &Engine, who: &Identity, reach: &Reach) -> Result<Vec<Entry>, LdapError> {
    let (see_users, full_users, see_groups) = match who {
        Identity::Nobody if !engine.config().allow_anonymous => {
            return Err(LdapError::BindRequired);
        }
        Identity::Nobody | Identity::Anonymous | Identity::User { .. } => (true, false, true),
        Identity::Service { grants, .. } => (grants.users, grants.users, grants.groups),
    };
    let me = match who {
        Identity::User { id, .. } => Some(id.as_str()),
        _ => None,
    };
    let idp = &engine.idp;
    let cfg = engine.config();
    let base = &engine.base;
    let mut out = Vec::new();
    let (rdn_attr, rdn_value) = base.rdns.first().cloned().unwrap_or_default();
    let base_attr: &'static str = match rdn_attr.as_str() {
        "dc" => "dc",
        "o" => "o",
        "ou" => "ou",
        _ => "description",
    };
    out.push(Entry::new(
        base.to_string(),
        vec![
            ("objectClass", many(&["top", "dcObject", "organization"])),
            (base_attr, one(rdn_value.clone())),
            ("o", one(rdn_value)),
        ],
    ));
    for ou in ["users", "groups"] {
        out.push(Entry::new(
            format!("ou={ou},{base}"),
            vec![
                ("objectClass", many(&["top", "organizationalUnit"])),
                ("ou", one(ou)),
            ],
        ));
    }
    if !see_users && !see_groups {
        return Ok(out);
    }
    let pinned = match reach {
        Reach::Users(keys) => pinned_users(engine, keys).await?,
        Reach::Everything => None,
    };
    let (users, groups, memberships, names) = match pinned {
        // Only these users' entries: their groups come with them, and no
        // group entry is built.
        Some(users) => {
            let mut memberships = Vec::new();
            let mut names = HashMap::new();
            for u in &users {
                for (group_id, name) in idp.store.user_groups(&u.id).await? {
                    memberships.push(Membership {
                        group_id: group_id.clone(),
                        user_id: u.id.clone(),
                    });
                    names.insert(group_id, name);
                }
            }
            (users, Vec::new(), memberships, names)
        }
        None => {
            let groups = idp.store.list_groups().await?;
            let names = groups
                .iter()
                .map(|(g, _)| (g.id.clone(), g.name.clone()))
                .collect();
            (
                idp.store.list_users().await?,
                groups,
                idp.store.all_memberships().await?,
                names,
            )
        }
    };
    let everything = matches!(reach, Reach::Everything);
    let see_groups = see_groups && everything;
    let (user_ids, group_ids) = if cfg.posix {
        (
            posix_numbers(engine, PosixKind::User, users.iter().map(|u| u.id.as_str())).await?,
            posix_numbers(
                engine,
                PosixKind::Group,
                groups.iter().map(|(g, _)| g.id.as_str()),
            )
            .await?,
        )
    } else {
        (HashMap::new(), HashMap::new())
    };
    let uid_of = |u: &crate::directory::User| {
        if u.username.is_empty() {
            u.email.clone()
        } else {
            u.username.clone()
        }
    };
    let user_by_id: HashMap<&str, &crate::directory::User> =
        users.iter().map(|u| (u.id.as_str(), u)).collect();
    if see_users {
        let mut keys: HashMap<String, Vec<String>> = HashMap::new();
        if (full_users || me.is_some()) && everything {
            for (user_id, key) in idp.store.all_ssh_keys().await? {
                keys.entry(user_id).or_default().push(key);
            }
        } else if full_users || me.is_some() {
            for u in users
                .iter()
                .filter(|u| full_users || me == Some(u.id.as_str()))
            {
                let rows = idp.store.ssh_keys(&u.id).await?;
                keys.insert(
                    u.id.clone(),
                    rows.into_iter().map(|k| k.public_key).collect(),
                );
            }
        }
        for u in &users {
            let full = full_users || me == Some(u.id.as_str());
            let uid = uid_of(u);
            let mut classes = vec![
                "top",
                "person",
                "organizationalPerson",
                "inetOrgPerson",
                "ldapPublicKey",
            ];
            let mut attrs = vec![
                ("uid", one(uid.clone())),
                ("mail", one(u.email.clone())),
                ("cn", one(u.display_name())),
                ("givenName", one(u.first_name.clone())),
                (
                    "sn",
                    one(if u.last_name.is_empty() {
                        uid.clone()
                    } else {
                        u.last_name.clone()
                    }),
                ),
                ("displayName", one(u.display_name())),
                ("entryUUID", one(u.id.clone())),
            ];
            let mut member_of: Vec<String> = memberships
                .iter()
                .filter(|m| m.user_id == u.id)
                .filter_map(|m| names.get(&m.group_id))
                .map(|name| group_dn(base, name))
                .collect();
            member_of.sort();
            attrs.push(("memberOf", member_of));
            if let Some(n) = user_ids.get(u.id.as_str()) {
                classes.push("posixAccount");
                attrs.push(("uidNumber", one(n.to_string())));
                attrs.push(("gidNumber", one(n.to_string())));
                attrs.push(("homeDirectory", one(format!("{}{uid}", cfg.home_prefix))));
                attrs.push(("loginShell", one(cfg.login_shell.clone())));
            }
            if full {
                let phones: Vec<String> = ["work_phone", "work_cell"]
                    .iter()
                    .map(|f| u.profile.get(f).to_string())
                    .filter(|p| !p.is_empty())
                    .collect();
                attrs.push(("telephoneNumber", phones));
                attrs.push(("sshPublicKey", keys.remove(&u.id).unwrap_or_default()));
            }
            attrs.insert(0, ("objectClass", many(&classes)));
            out.push(Entry::new(user_dn(base, &u.email), attrs));
        }
    }
    if see_groups {
        for (g, _) in &groups {
            let members: Vec<&crate::directory::User> = memberships
                .iter()
                .filter(|m| m.group_id == g.id)
                .filter_map(|m| user_by_id.get(m.user_id.as_str()).copied())
                .collect();
            let mut member: Vec<String> = members.iter().map(|u| user_dn(base, &u.email)).collect();
            member.sort();
            let mut classes = vec!["top", "groupOfNames"];
            let mut attrs = vec![
                ("cn", one(g.name.clone())),
                ("member", member),
                ("entryUUID", one(g.id.clone())),
            ];
            if let Some(n) = group_ids.get(g.id.as_str()) {
                classes.push("posixGroup");
                attrs.push(("gidNumber", one(n.to_string())));
                let mut uids: Vec<String> = members.iter().map(|u| uid_of(u)).collect();
                uids.sort();
                attrs.push(("memberUid", uids));
            }
            attrs.insert(0, ("objectClass", many(&classes)));
            out.push(Entry::new(group_dn(base, &g.name), attrs));
        }
    }
    Ok(out)
}

/// The users the keys name, through the store's indexes; `None` when a key
/// matches too many to be worth it (then the search reads everything).
async fn pinned_users(
    engine: &Engine,
    keys: &[Key],
) -> Result<Option<Vec<crate::directory::User>>, LdapError> {
    let store = &engine.idp.store;
    let mut found: Vec<crate::directory::User> = Vec::new();
    for key in keys {
        let mut hits = Vec::new();
        match key {
            Key::Mail(email) => hits.extend(store.users_where(UserKey::Email, email).await?),
            // uid is the username, or the email where there is none.
            Key::Uid(uid) => {
                let named = store.users_where(UserKey::Username, uid).await?;
                if named.len() >= USERS_WHERE_LIMIT {
                    return Ok(None);
                }
                hits.extend(named);
                hits.extend(store.users_where(UserKey::Email, uid).await?);
            }
        }
        for u in hits {
            if !found.iter().any(|f| f.id == u.id) {
                found.push(u);
            }
        }
    }
    // The directory's order: by email.
    found.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(Some(found))
}

/// The numbers of these owners, allocating the missing ones (stored at
/// first sight, never reused).
async fn posix_numbers<'a>(
    engine: &Engine,
    kind: PosixKind,
    owners: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, i64>, LdapError> {
    let store = &engine.idp.store;
    let mut known: HashMap<String, i64> = store.posix_ids(kind).await?.into_iter().collect();
    let missing: Vec<&str> = owners.filter(|o| !known.contains_key(*o)).collect();
    if missing.is_empty() {
        return Ok(known);
    }
    // One allocator at a time on this instance; whoever waited reads what
    // the one before gave out. Other instances race through the store's
    // unique key (`allocate_posix_id`).
    let _one = engine.posix_allocation().await;
    known = store.posix_ids(kind).await?.into_iter().collect();
    for owner in missing {
        if !known.contains_key(owner) {
            let n = store.allocate_posix_id(kind, owner, FIRST_POSIX_ID).await?;
            known.insert(owner.to_string(), n);
        }
    }
    Ok(known)
}

fn root_dse(engine: &Engine) -> LdapSearchResultEntry {
    let attr = |atype: &str, vals: &[&str]| LdapPartialAttribute {
        atype: atype.into(),
        vals: vals.iter().map(|v| v.as_bytes().to_vec()).collect(),
    };
    let base = engine.base.to_string();
    LdapSearchResultEntry {
        dn: String::new(),
        attributes: vec![
            attr("objectClass", &["top"]),
            attr("namingContexts", &[&base]),
            attr("supportedLDAPVersion", &["3"]),
            attr(
                "supportedExtension",
                &[super::OID_WHOAMI, super::OID_STARTTLS],
            ),
            attr("supportedControl", &[super::OID_PAGED]),
            attr("supportedSASLMechanisms", &[]),
            attr("vendorName", &["Portcullis"]),
        ],
    }
}

/// Three-valued filter logic (RFC 4511 §4.5.1.7): `None` is Undefined.
fn matches(f: &LdapFilter, e: &Entry) -> Option<bool> {
    let values = |a: &str| e.get(a).unwrap_or(&[]);
    let is_dn = |a: &str| {
        ["member", "memberOf"]
            .iter()
            .any(|d| d.eq_ignore_ascii_case(a))
    };
    let eq = |a: &str, want: &str| {
        let want_dn = is_dn(a).then(|| Dn::parse(want).ok()).flatten();
        values(a).iter().any(|v| match &want_dn {
            Some(w) => Dn::parse(v).is_ok_and(|d| d.same(w)),
            None => v.trim().to_lowercase() == want.trim().to_lowercase(),
        })
    };
    match f {
        LdapFilter::And(fs) => fs
            .iter()
            .try_fold(true, |acc, f| Some(acc && matches(f, e)?)),
        LdapFilter::Or(fs) => {
            let mut undefined = false;
            for f in fs {
                match matches(f, e) {
                    Some(true) => return Some(true),
                    None => undefined = true,
                    Some(false) => {}
                }
            }
            if undefined { None } else { Some(false) }
        }
        LdapFilter::Not(f) => matches(f, e).map(|b| !b),
        LdapFilter::Equality(a, v) | LdapFilter::Approx(a, v) => Some(eq(a, v)),
        LdapFilter::Present(a) => Some(e.get(a).is_some()),
        LdapFilter::Substring(a, sub) => Some(values(a).iter().any(|v| substring(sub, v))),
        LdapFilter::GreaterOrEqual(a, v) => Some(values(a).iter().any(|x| order(x, v).is_ge())),
        LdapFilter::LessOrEqual(a, v) => Some(values(a).iter().any(|x| order(x, v).is_le())),
        LdapFilter::Extensible(_) => None,
    }
}

fn order(have: &str, want: &str) -> std::cmp::Ordering {
    match (have.trim().parse::<i64>(), want.trim().parse::<i64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => have.to_lowercase().cmp(&want.to_lowercase()),
    }
}

fn substring(f: &LdapSubstringFilter, value: &str) -> bool {
    let v = value.to_lowercase();
    let mut rest = v.as_str();
    if let Some(init) = &f.initial {
        let init = init.to_lowercase();
        let Some(r) = rest.strip_prefix(init.as_str()) else {
            return false;
        };
        rest = r;
    }
    for any in &f.any {
        let any = any.to_lowercase();
        match rest.find(any.as_str()) {
            Some(i) => rest = &rest[i + any.len()..],
            None => return false,
        }
    }
    match &f.final_ {
        Some(fin) => rest.ends_with(fin.to_lowercase().as_str()),
        None => true,
    }
}

fn in_scope(scope: &LdapSearchScope, base: &Dn, dn: &Dn) -> bool {
    match scope {
        LdapSearchScope::Base => dn.same(base),
        LdapSearchScope::OneLevel => dn.rdns.len() == base.rdns.len() + 1 && dn.is_within(base),
        LdapSearchScope::Subtree => dn.is_within(base),
        LdapSearchScope::Children => dn.rdns.len() > base.rdns.len() && dn.is_within(base),
    }
}

/// The attributes a search asked for: all user attributes for none or
/// `*`, none for `1.1`, else those named (case-insensitively).
fn select(e: &Entry, wanted: &[String]) -> LdapSearchResultEntry {
    let all = wanted.is_empty() || wanted.iter().any(|w| w == "*");
    let attributes = e
        .attrs
        .iter()
        .filter(|(n, _)| all || wanted.iter().any(|w| w.eq_ignore_ascii_case(n)))
        .map(|(n, v)| LdapPartialAttribute {
            atype: (*n).to_string(),
            vals: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        })
        .collect();
    LdapSearchResultEntry {
        dn: e.dn.clone(),
        attributes,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    SizeLimit,
}

/// The entries one search returns, and the cookie of the next page.
#[derive(Debug)]
pub struct Found {
    pub entries: Vec<LdapSearchResultEntry>,
    pub outcome: Outcome,
    /// With paging: the cookie to ask for the rest (empty when done).
    pub next_page: Option<Vec<u8>>,
}

/// Runs a search. The paging cookie is the offset of the next entry: it is
/// not a secret, since every page is cut again from what the identity may
/// read, and it keeps no state on the server between pages.
pub async fn search(
    engine: &Engine,
    conn: &Connection,
    req: &LdapSearchRequest,
    paged: Option<(i64, Vec<u8>)>,
) -> Result<Found, LdapError> {
    if req.base.trim().is_empty() && req.scope == LdapSearchScope::Base {
        let dse = root_dse(engine);
        let view = Entry::new(
            String::new(),
            dse.attributes
                .iter()
                .map(|a| {
                    (
                        // Only for filtering: the names are fixed above.
                        static_name(&a.atype),
                        a.vals
                            .iter()
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .collect(),
                    )
                })
                .collect(),
        );
        let hit = matches(&req.filter, &view) == Some(true);
        let entries = if hit {
            let mut e = select(&view, &req.attrs);
            e.dn = String::new();
            vec![e]
        } else {
            Vec::new()
        };
        return Ok(Found {
            entries,
            outcome: Outcome::Complete,
            next_page: None,
        });
    }
    let base = Dn::parse(&req.base).map_err(|e| LdapError::InvalidDn(e.to_string()))?;
    if !base.is_within(&engine.base) {
        return Err(LdapError::NoSuchObject);
    }
    let reach = reach::of_search(&engine.base, &base, &req.scope, &req.filter);
    let entries = visible(engine, &conn.identity, &reach).await?;
    if !entries.iter().any(|e| e.parsed.same(&base)) {
        return Err(LdapError::NoSuchObject);
    }
    let hits: Vec<&Entry> = entries
        .iter()
        .filter(|e| in_scope(&req.scope, &base, &e.parsed))
        .filter(|e| matches(&req.filter, e) == Some(true))
        .collect();
    let cap = engine.config().max_entries;
    let limit = match usize::try_from(req.sizelimit) {
        Ok(n) if n > 0 => n.min(cap),
        _ => cap,
    };
    if let Some((size, cookie)) = paged {
        let offset: usize = if cookie.is_empty() {
            0
        } else {
            std::str::from_utf8(&cookie)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(LdapError::Protocol("invalid paged results cookie"))?
        };
        // Size 0 abandons the paged search (RFC 2696 §3).
        if size <= 0 {
            return Ok(Found {
                entries: Vec::new(),
                outcome: Outcome::Complete,
                next_page: Some(Vec::new()),
            });
        }
        let page = usize::try_from(size).unwrap_or(usize::MAX).min(limit);
        let rest = hits.get(offset..).unwrap_or(&[]);
        let end = page.min(rest.len());
        let next = offset + end;
        let next_page = if next < hits.len() {
            next.to_string().into_bytes()
        } else {
            Vec::new()
        };
        return Ok(Found {
            entries: rest[..end].iter().map(|e| select(e, &req.attrs)).collect(),
            outcome: Outcome::Complete,
            next_page: Some(next_page),
        });
    }
    let outcome = if hits.len() > limit {
        Outcome::SizeLimit
    } else {
        Outcome::Complete
    };
    Ok(Found {
        entries: hits
            .iter()
            .take(limit)
            .map(|e| select(e, &req.attrs))
            .collect(),
        outcome,
        next_page: None,
    })
}

fn static_name(name: &str) -> &'static str {
    const NAMES: &[&str] = &[
        "objectClass",
        "namingContexts",
        "supportedLDAPVersion",
        "supportedExtension",
        "supportedControl",
        "supportedSASLMechanisms",
        "vendorName",
    ];
    NAMES
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or("objectClass")
}

/// Compares one attribute of one entry the identity may read.
pub async fn compare(
    engine: &Engine,
    conn: &Connection,
    req: &LdapCompareRequest,
) -> Result<bool, LdapError> {
    let dn = Dn::parse(&req.dn).map_err(|e| LdapError::InvalidDn(e.to_string()))?;
    if !dn.is_within(&engine.base) {
        return Err(LdapError::NoSuchObject);
    }
    let entries = visible(
        engine,
        &conn.identity,
        &reach::of_compare(&engine.base, &dn),
    )
    .await?;
    let entry = entries
        .iter()
        .find(|e| e.parsed.same(&dn))
        .ok_or(LdapError::NoSuchObject)?;
    let value = String::from_utf8_lossy(&req.val);
    Ok(matches(
        &LdapFilter::Equality(req.atype.clone(), value.into_owned()),
        entry,
    ) == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry::new(
            "mail=a@example.com,ou=users,dc=x".into(),
            vec![
                ("objectClass", many(&["top", "inetOrgPerson"])),
                ("uid", one("alice")),
                ("memberOf", one("cn=Staff,ou=groups,dc=x")),
                ("uidNumber", one("10001")),
            ],
        )
    }

    fn f(s: &str) -> LdapFilter {
        ldap3_proto::parse_ldap_filter_str(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    #[test]
    fn filters_match_like_a_directory() {
        let e = entry();
        assert_eq!(matches(&f("(uid=ALICE)"), &e), Some(true));
        assert_eq!(matches(&f("(uid=al*)"), &e), Some(true));
        assert_eq!(matches(&f("(uid=*ic*)"), &e), Some(true));
        assert_eq!(matches(&f("(uid=*bob)"), &e), Some(false));
        assert_eq!(
            matches(&f("(uid=al\\2a)"), &e),
            Some(false),
            "an escaped * is a literal"
        );
        assert_eq!(
            matches(&f("(&(objectClass=inetOrgPerson)(!(uid=bob)))"), &e),
            Some(true)
        );
        assert_eq!(matches(&f("(|(uid=bob)(mail=*))"), &e), Some(false));
        // DN values compare as DNs (the string parser takes no '=' in a value).
        let dn = LdapFilter::Equality("memberOf".into(), "CN=staff, ou=Groups,DC=x".into());
        assert_eq!(matches(&dn, &e), Some(true));
        let undefined = LdapFilter::Not(Box::new(LdapFilter::Extensible(Default::default())));
        assert_eq!(
            matches(&undefined, &e),
            None,
            "not(undefined) stays undefined"
        );
        assert_eq!(matches(&f("(uidNumber>=9999)"), &e), Some(true));
        assert_eq!(matches(&f("(uidNumber<=9999)"), &e), Some(false));
        assert_eq!(matches(&f("(telephoneNumber=*)"), &e), Some(false));
    }
}
