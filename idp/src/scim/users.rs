//! Users: the directory's [`User`] as a SCIM User with the enterprise
//! extension, and back.
//!
//! | SCIM | directory |
//! |---|---|
//! | `userName` | `username` |
//! | `emails[type eq "work"].value` (or the primary or first one) | `email`, the sign-in name |
//! | `name.givenName`, `name.familyName` | `first_name`, `last_name` |
//! | `displayName`, `title` | profile `display_name`, `title` |
//! | `phoneNumbers` work, mobile, fax, home | profile `work_phone`, `work_cell`, `work_fax`, `home_phone` |
//! | `addresses` work, home | profile `work_*`, `home_*` (street, city, state, zip, country) |
//! | `active` | not suspended by an administrator |
//! | `externalId` | `external_id` |
//! | enterprise `employeeNumber`, `costCenter`, `organization`, `division`, `department`, `manager.value` | profile `employee_number`, `cost_center`, `organization`, `division`, `department`, `manager_id` |
//!
//! Profile fields SCIM does not carry (alternate and recovery email, PO
//! boxes, personal cell) are kept as they are.

use serde_json::{Map, Value, json};

use super::{ENTERPRISE_SCHEMA, Result, ScimError, USER_SCHEMA, datetime, get_ci};
use crate::admin::users::UserRecord;
use crate::directory::{LockReason, Profile, User, valid_email};

const PHONES: &[(&str, &str)] = &[
    ("work", "work_phone"),
    ("mobile", "work_cell"),
    ("fax", "work_fax"),
    ("home", "home_phone"),
];

const ADDRESS_TYPES: &[(&str, &str)] = &[("work", "work"), ("home", "home")];

const ADDRESS_PARTS: &[(&str, &str)] = &[
    ("streetAddress", "street"),
    ("locality", "city"),
    ("region", "state"),
    ("postalCode", "zip"),
    ("country", "country"),
];

const ENTERPRISE: &[(&str, &str)] = &[
    ("employeeNumber", "employee_number"),
    ("costCenter", "cost_center"),
    ("organization", "organization"),
    ("division", "division"),
    ("department", "department"),
];

const SIMPLE: &[(&str, &str)] = &[("displayName", "display_name"), ("title", "title")];

/// Every profile key this mapping owns: a PUT clears those it does not name.
fn owned_keys() -> Vec<String> {
    let mut keys: Vec<String> = SIMPLE
        .iter()
        .chain(ENTERPRISE)
        .map(|(_, k)| k.to_string())
        .collect();
    keys.extend(PHONES.iter().map(|(_, k)| k.to_string()));
    for (_, prefix) in ADDRESS_TYPES {
        for (_, part) in ADDRESS_PARTS {
            keys.push(format!("{prefix}_{part}"));
        }
    }
    keys.push("manager_id".into());
    keys
}

pub fn location(base: &str, id: &str) -> String {
    format!("{base}/Users/{id}")
}

/// Whether SCIM shows the user as active: only an administrator's
/// suspension makes them inactive (a lockout after failures lifts itself).
pub fn active(user: &User) -> bool {
    user.locked != Some(LockReason::Admin)
}

/// The user's SCIM form; `groups` are (id, name).
pub fn render(user: &User, groups: &[(String, String)], base: &str) -> Value {
    let p = &user.profile;
    let mut r = Map::new();
    r.insert("schemas".into(), json!([USER_SCHEMA]));
    r.insert("id".into(), json!(user.id));
    if let Some(e) = &user.external_id {
        r.insert("externalId".into(), json!(e));
    }
    r.insert("userName".into(), json!(user.username));
    let mut name = Map::new();
    if !user.first_name.is_empty() {
        name.insert("givenName".into(), json!(user.first_name));
    }
    if !user.last_name.is_empty() {
        name.insert("familyName".into(), json!(user.last_name));
    }
    if !name.is_empty() {
        r.insert("name".into(), Value::Object(name));
    }
    for (attr, key) in SIMPLE {
        if !p.get(key).is_empty() {
            r.insert((*attr).into(), json!(p.get(key)));
        }
    }
    r.insert("active".into(), json!(active(user)));
    r.insert(
        "emails".into(),
        json!([{"value": user.email, "type": "work"}]),
    );
    let phones: Vec<Value> = PHONES
        .iter()
        .filter(|(_, k)| !p.get(k).is_empty())
        .map(|(t, k)| json!({"value": p.get(k), "type": t}))
        .collect();
    if !phones.is_empty() {
        r.insert("phoneNumbers".into(), Value::Array(phones));
    }
    let mut addresses = Vec::new();
    for (t, prefix) in ADDRESS_TYPES {
        let mut a = Map::new();
        for (attr, part) in ADDRESS_PARTS {
            let v = p.get(&format!("{prefix}_{part}"));
            if !v.is_empty() {
                a.insert((*attr).into(), json!(v));
            }
        }
        if !a.is_empty() {
            a.insert("type".into(), json!(t));
            addresses.push(Value::Object(a));
        }
    }
    if !addresses.is_empty() {
        r.insert("addresses".into(), Value::Array(addresses));
    }
    if !groups.is_empty() {
        r.insert(
            "groups".into(),
            Value::Array(
                groups
                    .iter()
                    .map(|(id, name)| json!({"value": id, "$ref": super::groups::location(base, id), "display": name}))
                    .collect(),
            ),
        );
    }
    let mut ext = Map::new();
    for (attr, key) in ENTERPRISE {
        if !p.get(key).is_empty() {
            ext.insert((*attr).into(), json!(p.get(key)));
        }
    }
    let manager = p.get("manager_id");
    if !manager.is_empty() {
        ext.insert(
            "manager".into(),
            json!({"value": manager, "$ref": location(base, manager)}),
        );
    }
    if !ext.is_empty() {
        r.insert("schemas".into(), json!([USER_SCHEMA, ENTERPRISE_SCHEMA]));
        r.insert(ENTERPRISE_SCHEMA.into(), Value::Object(ext));
    }
    let mut resource = Value::Object(r);
    let version = super::etag(&resource);
    resource["meta"] = json!({
        "resourceType": "User",
        "created": datetime(user.created_at),
        "lastModified": datetime(user.modified_at),
        "location": location(base, &user.id),
        "version": version,
    });
    resource
}

/// What a SCIM User asks the account to be.
#[derive(Debug, Clone)]
pub struct Desired {
    pub record: UserRecord,
    /// `None` when the request does not say.
    pub active: Option<bool>,
}

fn string(v: Option<&Value>, what: &str) -> Result<String> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.trim().to_string()),
        Some(_) => Err(ScimError::value(format!("{what} must be a string"))),
    }
}

/// A boolean, also in the string form Entra ID sends (`"False"`).
pub fn boolean(v: &Value, what: &str) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::value(format!("{what} must be true or false"))),
    }
}

fn items<'a>(v: Option<&'a Value>, what: &str) -> Result<Vec<&'a Value>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a.iter().collect()),
        Some(o @ Value::Object(_)) => Ok(vec![o]),
        Some(_) => Err(ScimError::value(format!("{what} must be an array"))),
    }
}

fn type_of(item: &Value, default: &str) -> Result<String> {
    let t = string(get_ci(item, "type"), "type")?;
    Ok(if t.is_empty() {
        default.to_string()
    } else {
        t.to_lowercase()
    })
}

/// Reads a SCIM User (a POST or PUT body, or a resource after PATCH) into
/// the account's new state; `current` is the profile it replaces.
pub fn read(v: &Value, current: Option<&Profile>) -> Result<Desired> {
    if !v.is_object() {
        return Err(ScimError::bad(
            super::ScimType::InvalidSyntax,
            "a User is a JSON object",
        ));
    }
    let username = string(get_ci(v, "userName"), "userName")?;
    if username.is_empty() {
        return Err(ScimError::value("userName is required"));
    }
    let emails = items(get_ci(v, "emails"), "emails")?;
    let primary = emails
        .iter()
        .find(|e| get_ci(e, "primary").is_some_and(|p| boolean(p, "primary").unwrap_or(false)))
        .or_else(|| {
            emails
                .iter()
                .find(|e| type_of(e, "work").is_ok_and(|t| t == "work"))
        })
        .or_else(|| emails.first());
    let email = match primary {
        Some(e) => string(get_ci(e, "value"), "emails.value")?,
        None => String::new(),
    };
    let email = if email.is_empty() && valid_email(&username.to_lowercase()) {
        username.clone()
    } else {
        email
    };
    if email.is_empty() {
        return Err(ScimError::value(
            "emails: a work email is required (it is the user's sign-in name)",
        ));
    }
    let name = get_ci(v, "name");
    let first_name = string(name.and_then(|n| get_ci(n, "givenName")), "name.givenName")?;
    let last_name = string(
        name.and_then(|n| get_ci(n, "familyName")),
        "name.familyName",
    )?;

    let owned = owned_keys();
    let mut profile = Profile(
        current
            .map(|p| {
                p.0.iter()
                    .filter(|(k, _)| !owned.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    );
    let mut put = |key: &str, value: String| {
        if !value.is_empty() {
            profile.0.insert(key.to_string(), value);
        }
    };
    for (attr, key) in SIMPLE {
        put(key, string(get_ci(v, attr), attr)?);
    }
    for phone in items(get_ci(v, "phoneNumbers"), "phoneNumbers")? {
        let t = type_of(phone, "work")?;
        let key = PHONES
            .iter()
            .find(|(pt, _)| *pt == t)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                ScimError::value(format!(
                    "phoneNumbers: type {t:?} is not kept; use work, mobile, fax or home"
                ))
            })?;
        put(key, string(get_ci(phone, "value"), "phoneNumbers.value")?);
    }
    for address in items(get_ci(v, "addresses"), "addresses")? {
        let t = type_of(address, "work")?;
        let prefix = ADDRESS_TYPES
            .iter()
            .find(|(at, _)| *at == t)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                ScimError::value(format!(
                    "addresses: type {t:?} is not kept; use work or home"
                ))
            })?;
        for (attr, part) in ADDRESS_PARTS {
            put(
                &format!("{prefix}_{part}"),
                string(get_ci(address, attr), attr)?,
            );
        }
    }
    if let Some(ext) = get_ci(v, ENTERPRISE_SCHEMA) {
        if !ext.is_object() && !ext.is_null() {
            return Err(ScimError::value(format!(
                "{ENTERPRISE_SCHEMA} must be an object"
            )));
        }
        for (attr, key) in ENTERPRISE {
            put(key, string(get_ci(ext, attr), attr)?);
        }
        // Entra ID sends the manager as the bare id.
        let manager = match get_ci(ext, "manager") {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(m @ Value::Object(_)) => string(get_ci(m, "value"), "manager.value")?,
            None | Some(Value::Null) => String::new(),
            Some(_) => return Err(ScimError::value("manager must be an object")),
        };
        put("manager_id", manager);
    }
    let external_id = string(get_ci(v, "externalId"), "externalId")?;
    let active = match get_ci(v, "active") {
        None | Some(Value::Null) => None,
        Some(a) => Some(boolean(a, "active")?),
    };
    Ok(Desired {
        record: UserRecord {
            email,
            first_name,
            last_name,
            username,
            profile,
            external_id: (!external_id.is_empty()).then_some(external_id),
        },
        active,
    })
}
