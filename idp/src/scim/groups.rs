//! Groups: the directory's groups as SCIM Groups (`displayName` is the
//! group's name, `members` its users; groups do not nest).

use serde_json::{Map, Value, json};

use super::{GROUP_SCHEMA, Result, ScimError, datetime, get_ci};
use crate::store::{MemberRow, ScimGroupRow};

pub fn location(base: &str, id: &str) -> String {
    format!("{base}/Groups/{id}")
}

pub fn render(group: &ScimGroupRow, members: &[MemberRow], base: &str) -> Value {
    let mut r = Map::new();
    r.insert("schemas".into(), json!([GROUP_SCHEMA]));
    r.insert("id".into(), json!(group.id));
    if let Some(e) = &group.external_id {
        r.insert("externalId".into(), json!(e));
    }
    r.insert("displayName".into(), json!(group.name));
    if !members.is_empty() {
        r.insert(
            "members".into(),
            Value::Array(
                members
                    .iter()
                    .map(|m| json!({"value": m.user_id, "$ref": super::users::location(base, &m.user_id)}))
                    .collect(),
            ),
        );
    }
    let mut resource = Value::Object(r);
    let version = super::etag(&resource);
    resource["meta"] = json!({
        "resourceType": "Group",
        "created": datetime(group.created_at),
        "lastModified": datetime(group.modified_at),
        "location": location(base, &group.id),
        "version": version,
    });
    resource
}

/// What a SCIM Group asks the group to be.
#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub external_id: Option<String>,
    /// User ids, without repeats.
    pub members: Vec<String>,
}

pub fn read(v: &Value) -> Result<Desired> {
    if !v.is_object() {
        return Err(ScimError::bad(
            super::ScimType::InvalidSyntax,
            "a Group is a JSON object",
        ));
    }
    let name = match get_ci(v, "displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(ScimError::value("displayName is required")),
    };
    let external_id = match get_ci(v, "externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ScimError::value("externalId must be a string")),
    };
    let mut members: Vec<String> = Vec::new();
    match get_ci(v, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for m in items {
                let id = match get_ci(m, "value") {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    _ => return Err(ScimError::value("members[].value must be a user id")),
                };
                if get_ci(m, "type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("group"))
                {
                    return Err(ScimError::value("groups do not nest: members are users"));
                }
                if !members.contains(&id) {
                    members.push(id);
                }
            }
        }
        Some(_) => return Err(ScimError::value("members must be an array")),
    }
    Ok(Desired {
        name,
        external_id,
        members,
    })
}
