//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON form, including the
//! shapes Entra ID and Okta send: capitalised `op`s, a path-less `replace`
//! with an object of attributes (some of them paths such as
//! `name.givenName` or extension URNs), `members` removed by a `value`
//! array, and a value-filtered path that matches nothing yet
//! (`emails[type eq "work"].value`), which adds the value it names.

use serde_json::{Map, Value};

use super::filter::{self, AttrPath, CompareOp, Filter, PatchPath};
use super::schema::{self, Mutability};
use super::{MAX_OPERATIONS, PATCH_SCHEMA, Refusal, Result, ScimType, get_ci, key_ci};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub kind: Kind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

fn syntax(detail: impl Into<String>) -> Refusal {
    Refusal::bad(ScimType::InvalidSyntax, detail)
}

/// Reads a PatchOp request body.
pub fn parse(body: &Value) -> Result<Vec<Operation>> {
    if !body.is_object() {
        return Err(syntax("a PATCH body is a JSON object"));
    }
    if let Some(schemas) = get_ci(body, "schemas") {
        let ok = schemas
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA)));
        if !ok {
            return Err(syntax(format!("schemas must contain {PATCH_SCHEMA}")));
        }
    }
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("Operations must be an array"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(Refusal::bad(
            ScimType::TooMany,
            format!("at most {MAX_OPERATIONS} operations per request"),
        ));
    }
    ops.iter()
        .map(|op| {
            let kind = match get_ci(op, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => Kind::Add,
                Some("replace") => Kind::Replace,
                Some("remove") => Kind::Remove,
                _ => return Err(syntax("op must be add, replace or remove")),
            };
            let path = match get_ci(op, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(filter::parse_patch_path(p)?),
                Some(_) => return Err(syntax("path must be a string")),
            };
            let value = get_ci(op, "value").filter(|v| !v.is_null()).cloned();
            if kind == Kind::Remove && path.is_none() {
                return Err(Refusal::bad(ScimType::NoTarget, "remove needs a path"));
            }
            if kind != Kind::Remove && value.is_none() {
                return Err(Refusal::value(
                    format!("{kind:?} needs a value").to_lowercase(),
                ));
            }
            Ok(Operation { kind, path, value })
        })
        .collect()
}

/// The schemas a resource type's paths may name: its core schema first.
#[derive(Debug, Clone, Copy)]
pub struct Schemas {
    pub core: &'static str,
    pub extensions: &'static [&'static str],
}

/// Applies the operations in order; on an error nothing is to be saved.
pub fn apply(resource: &mut Value, ops: &[Operation], schemas: Schemas) -> Result<()> {
    for op in ops {
        match &op.path {
            Some(p) => apply_one(resource, op.kind, p, op.value.as_ref(), schemas)?,
            None => {
                let Some(Value::Object(attrs)) = &op.value else {
                    return Err(Refusal::value(
                        "without a path, the value is an object of attributes",
                    ));
                };
                for (k, v) in attrs {
                    if k.eq_ignore_ascii_case("schemas") || k.eq_ignore_ascii_case("meta") {
                        continue;
                    }
                    if k.eq_ignore_ascii_case("id") {
                        if get_ci(resource, "id") == Some(v) {
                            continue;
                        }
                        return Err(Refusal::bad(ScimType::Mutability, "id cannot change"));
                    }
                    if let Some(ext) = schemas
                        .extensions
                        .iter()
                        .find(|e| e.eq_ignore_ascii_case(k))
                        && let Value::Object(inner) = v
                    {
                        for (k2, v2) in inner {
                            let path =
                                AttrPath::parse(&format!("{ext}:{k2}")).ok_or_else(|| {
                                    Refusal::bad(
                                        ScimType::InvalidPath,
                                        format!("{k2:?} is not an attribute"),
                                    )
                                })?;
                            apply_one(
                                resource,
                                op.kind,
                                &PatchPath { path, filter: None },
                                Some(v2),
                                schemas,
                            )?;
                        }
                        continue;
                    }
                    let path = AttrPath::parse(k).ok_or_else(|| {
                        Refusal::bad(ScimType::InvalidPath, format!("{k:?} is not an attribute"))
                    })?;
                    apply_one(
                        resource,
                        op.kind,
                        &PatchPath { path, filter: None },
                        Some(v),
                        schemas,
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// The object holding a path's attribute: the resource, or its extension's
/// object (made when `create`).
fn holder<'a>(
    resource: &'a mut Value,
    path: &AttrPath,
    schemas: Schemas,
    create: bool,
) -> Result<Option<(&'a mut Map<String, Value>, &'static str)>> {
    let schema = match &path.urn {
        None => schemas.core,
        Some(u) if u.eq_ignore_ascii_case(schemas.core) => schemas.core,
        Some(u) => schemas
            .extensions
            .iter()
            .find(|e| e.eq_ignore_ascii_case(u))
            .copied()
            .ok_or_else(|| Refusal::bad(ScimType::InvalidPath, format!("unknown schema {u}")))?,
    };
    let Some(root) = resource.as_object_mut() else {
        return Err(Refusal::NotAnObject);
    };
    if schema == schemas.core {
        return Ok(Some((root, schema)));
    }
    let key = key_ci(root, schema).unwrap_or_else(|| schema.to_string());
    if !root.contains_key(&key) {
        if !create {
            return Ok(None);
        }
        root.insert(key.clone(), Value::Object(Map::new()));
        // The extension's URN belongs in `schemas` once it has attributes.
        if let Some(Value::Array(list)) = root.get_mut("schemas")
            && !list.iter().any(|s| s.as_str() == Some(schema))
        {
            list.push(Value::String(schema.to_string()));
        }
    }
    match root.get_mut(&key) {
        Some(Value::Object(o)) => Ok(Some((o, schema))),
        _ => Err(Refusal::value(format!("{schema} is not an object"))),
    }
}

/// Whether two values of a multi-valued attribute are the same value.
fn same_item(a: &Value, b: &Value) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The attribute/value pairs of the `eq` terms of a value filter, to build
/// the value an Entra-style path names when no value matches yet.
fn eq_terms(f: &Filter, out: &mut Map<String, Value>) {
    match f {
        Filter::And(a, b) => {
            eq_terms(a, out);
            eq_terms(b, out);
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub.is_none() && path.urn.is_none() => {
            out.insert(path.attr.clone(), value.clone());
        }
        _ => {}
    }
}

fn merge(target: &mut Value, incoming: &Value) {
    match (target, incoming) {
        (Value::Object(t), Value::Object(i)) => {
            for (k, v) in i {
                let key = key_ci(t, k).unwrap_or_else(|| k.clone());
                t.insert(key, v.clone());
            }
        }
        (t, i) => *t = i.clone(),
    }
}

fn set_sub(item: &mut Value, sub: &str, value: &Value) {
    if !item.is_object() {
        *item = Value::Object(Map::new());
    }
    if let Value::Object(o) = item {
        let key = key_ci(o, sub).unwrap_or_else(|| sub.to_string());
        o.insert(key, value.clone());
    }
}

fn remove_sub(item: &mut Value, sub: &str) {
    if let Value::Object(o) = item
        && let Some(k) = key_ci(o, sub)
    {
        o.remove(&k);
    }
}

/// An operation on a whole extension (`path` is its URN).
fn apply_extension(
    resource: &mut Value,
    kind: Kind,
    ext: &'static str,
    value: Option<&Value>,
) -> Result<()> {
    let Some(root) = resource.as_object_mut() else {
        return Ok(());
    };
    let key = key_ci(root, ext).unwrap_or_else(|| ext.to_string());
    match (kind, value) {
        (Kind::Remove, _) => {
            root.remove(&key);
            if let Some(Value::Array(list)) = root.get_mut("schemas") {
                list.retain(|s| s.as_str() != Some(ext));
            }
        }
        (_, Some(v @ Value::Object(_))) => {
            let current = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if kind == Kind::Replace {
                *current = v.clone();
            } else {
                merge(current, v);
            }
            if let Some(Value::Array(list)) = root.get_mut("schemas")
                && !list.iter().any(|s| s.as_str() == Some(ext))
            {
                list.push(Value::String(ext.to_string()));
            }
        }
        _ => return Err(Refusal::value(format!("{ext} takes an object"))),
    }
    Ok(())
}

fn apply_one(
    resource: &mut Value,
    kind: Kind,
    target: &PatchPath,
    value: Option<&Value>,
    schemas: Schemas,
) -> Result<()> {
    let path = &target.path;
    if let (Some(urn), None, None) = (&path.urn, &path.sub, &target.filter) {
        let whole = format!("{urn}:{}", path.attr);
        if let Some(ext) = schemas
            .extensions
            .iter()
            .find(|e| e.eq_ignore_ascii_case(&whole))
        {
            return apply_extension(resource, kind, ext, value);
        }
    }
    if ["id", "meta", "schemas"]
        .iter()
        .any(|a| path.attr.eq_ignore_ascii_case(a))
        && path.urn.is_none()
    {
        return Err(Refusal::bad(
            ScimType::Mutability,
            format!("{} cannot change", path.attr),
        ));
    }
    let Some((obj, schema)) = holder(resource, path, schemas, kind != Kind::Remove)? else {
        return Ok(());
    };
    let def = schema::find(schema, &path.attr);
    if let Some(d) = def {
        let sub_ro = path
            .sub
            .as_ref()
            .and_then(|s| d.sub.iter().find(|a| a.name.eq_ignore_ascii_case(s)))
            .is_some_and(|a| a.mutability == Mutability::ReadOnly);
        if d.mutability == Mutability::ReadOnly || sub_ro {
            return Err(Refusal::bad(
                ScimType::Mutability,
                format!("{} is read-only", path.attr),
            ));
        }
    }
    let multi = def.map(|d| d.multi);
    let key = key_ci(obj, &path.attr)
        .unwrap_or_else(|| def.map(|d| d.name).unwrap_or(&path.attr).to_string());

    if let Some(f) = &target.filter {
        // A value filter: act on the values it matches.
        let current = obj
            .entry(key.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if current.is_object() {
            *current = Value::Array(vec![current.clone()]);
        }
        let Value::Array(items) = current else {
            return Err(Refusal::bad(
                ScimType::InvalidPath,
                format!("{} has no values to filter", path.attr),
            ));
        };
        let hits: Vec<usize> = (0..items.len())
            .filter(|&i| filter::matches(f, &items[i], schema))
            .collect();
        match kind {
            Kind::Remove => {
                if hits.is_empty() {
                    return Err(Refusal::bad(
                        ScimType::NoTarget,
                        format!("no value of {} matches", path.attr),
                    ));
                }
                match &path.sub {
                    Some(sub) => hits.iter().for_each(|&i| remove_sub(&mut items[i], sub)),
                    None => {
                        let mut i = 0;
                        items.retain(|_| {
                            let keep = !hits.contains(&i);
                            i += 1;
                            keep
                        });
                    }
                }
            }
            Kind::Add | Kind::Replace => {
                let value = value.unwrap_or(&Value::Null);
                if hits.is_empty() {
                    let mut fresh = Map::new();
                    eq_terms(f, &mut fresh);
                    let mut item = Value::Object(fresh);
                    match &path.sub {
                        Some(sub) => set_sub(&mut item, sub, value),
                        None => merge(&mut item, value),
                    }
                    items.push(item);
                } else {
                    for &i in &hits {
                        match &path.sub {
                            Some(sub) => set_sub(&mut items[i], sub, value),
                            None => merge(&mut items[i], value),
                        }
                    }
                }
            }
        }
        if items.is_empty() {
            obj.remove(&key);
        }
        return Ok(());
    }

    match (kind, &path.sub) {
        (Kind::Remove, None) => {
            let is_multi = multi.unwrap_or(matches!(obj.get(&key), Some(Value::Array(_))));
            match (value, obj.get_mut(&key)) {
                // Entra removes members by listing them.
                (Some(v), Some(Value::Array(items))) if is_multi => {
                    let gone: Vec<Value> = match v {
                        Value::Array(a) => a.clone(),
                        other => vec![other.clone()],
                    };
                    items.retain(|i| !gone.iter().any(|g| same_item(i, g)));
                    if items.is_empty() {
                        obj.remove(&key);
                    }
                }
                _ => {
                    obj.remove(&key);
                }
            }
        }
        (Kind::Remove, Some(sub)) => match obj.get_mut(&key) {
            Some(Value::Array(items)) => items.iter_mut().for_each(|i| remove_sub(i, sub)),
            Some(v) => remove_sub(v, sub),
            None => {}
        },
        (_, Some(sub)) => {
            let value = value.unwrap_or(&Value::Null);
            let current = obj.entry(key).or_insert(Value::Null);
            match current {
                Value::Array(items) => {
                    if items.is_empty() {
                        items.push(Value::Object(Map::new()));
                    }
                    items.iter_mut().for_each(|i| set_sub(i, sub, value));
                }
                other => set_sub(other, sub, value),
            }
        }
        (Kind::Add, None) if multi.unwrap_or(value.is_some_and(Value::is_array)) => {
            let incoming: Vec<Value> = match value {
                Some(Value::Array(a)) => a.clone(),
                Some(v) => vec![v.clone()],
                None => Vec::new(),
            };
            let current = obj.entry(key).or_insert_with(|| Value::Array(Vec::new()));
            if !current.is_array() {
                *current = Value::Array(Vec::new());
            }
            if let Value::Array(items) = current {
                for v in incoming {
                    if !items.iter().any(|i| same_item(i, &v)) {
                        items.push(v);
                    }
                }
            }
        }
        (Kind::Replace, None) if multi == Some(true) => {
            let v = match value {
                Some(Value::Array(a)) => Value::Array(a.clone()),
                Some(v) => Value::Array(vec![v.clone()]),
                None => Value::Array(Vec::new()),
            };
            obj.insert(key, v);
        }
        (_, None) => {
            let value = value.cloned().unwrap_or(Value::Null);
            match (obj.get_mut(&key), &value) {
                (Some(current @ Value::Object(_)), Value::Object(_)) => merge(current, &value),
                _ => {
                    obj.insert(key, value);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const S: Schemas = Schemas {
        core: super::super::USER_SCHEMA,
        extensions: &[super::super::ENTERPRISE_SCHEMA],
    };

    fn run(mut r: Value, body: Value) -> Result<Value> {
        let ops = parse(&body)?;
        apply(&mut r, &ops, S)?;
        Ok(r)
    }

    fn body(ops: Value) -> Value {
        json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
    }

    #[test]
    fn entra_shapes() {
        let r = json!({"schemas": [super::super::USER_SCHEMA], "id": "1", "userName": "a", "active": true,
            "emails": [{"value": "a@x.com", "type": "work"}]});
        let r = run(r, body(json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "b@x.com"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"},
            {"op": "Replace", "value": {"name.givenName": "Ann", "displayName": "Ann L"}},
        ]))).unwrap();
        assert_eq!(r["active"], json!("False"));
        assert_eq!(r["emails"], json!([{"value": "b@x.com", "type": "work"}]));
        assert_eq!(
            r["phoneNumbers"],
            json!([{"type": "mobile", "value": "+1 555 0100"}])
        );
        assert_eq!(
            r[super::super::ENTERPRISE_SCHEMA]["department"],
            json!("Ops")
        );
        assert_eq!(r["name"]["givenName"], json!("Ann"));
        assert_eq!(r["displayName"], json!("Ann L"));
        assert!(
            r["schemas"]
                .as_array()
                .unwrap()
                .contains(&json!(super::super::ENTERPRISE_SCHEMA))
        );
    }

    #[test]
    fn members() {
        let g = json!({"id": "g", "displayName": "G", "members": [{"value": "a"}, {"value": "b"}, {"value": "c"}]});
        let s = Schemas {
            core: super::super::GROUP_SCHEMA,
            extensions: &[],
        };
        let mut r = g.clone();
        apply(
            &mut r,
            &parse(&body(
                json!([{"op": "remove", "path": "members[value eq \"b\"]"}]),
            ))
            .unwrap(),
            s,
        )
        .unwrap();
        assert_eq!(r["members"], json!([{"value": "a"}, {"value": "c"}]));
        apply(
            &mut r,
            &parse(&body(
                json!([{"op": "Remove", "path": "members", "value": [{"value": "a"}]}]),
            ))
            .unwrap(),
            s,
        )
        .unwrap();
        assert_eq!(r["members"], json!([{"value": "c"}]));
        apply(&mut r, &parse(&body(json!([{"op": "add", "path": "members", "value": [{"value": "c"}, {"value": "d"}]}]))).unwrap(), s).unwrap();
        assert_eq!(r["members"], json!([{"value": "c"}, {"value": "d"}]));
        apply(
            &mut r,
            &parse(&body(
                json!([{"op": "replace", "path": "members", "value": [{"value": "e"}]}]),
            ))
            .unwrap(),
            s,
        )
        .unwrap();
        assert_eq!(r["members"], json!([{"value": "e"}]));
        apply(
            &mut r,
            &parse(&body(json!([{"op": "remove", "path": "members"}]))).unwrap(),
            s,
        )
        .unwrap();
        assert!(r.get("members").is_none());
    }

    #[test]
    fn refusals() {
        let r = json!({"id": "1", "userName": "a"});
        let kind = |b: Value| match run(r.clone(), b) {
            Err(Refusal::Bad { scim_type, .. }) => scim_type,
            other => panic!("{other:?}"),
        };
        assert_eq!(kind(body(json!([{"op": "remove"}]))), ScimType::NoTarget);
        assert_eq!(
            kind(body(json!([{"op": "jump", "path": "x"}]))),
            ScimType::InvalidSyntax
        );
        assert_eq!(kind(json!({"Operations": "no"})), ScimType::InvalidSyntax);
        assert_eq!(
            kind(body(json!([{"op": "replace", "path": "id", "value": "2"}]))),
            ScimType::Mutability
        );
        assert_eq!(
            kind(body(
                json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}])
            )),
            ScimType::Mutability
        );
        assert_eq!(
            kind(body(
                json!([{"op": "add", "path": "emails[type eq", "value": "x"}])
            )),
            ScimType::InvalidPath
        );
        assert_eq!(
            kind(body(
                json!([{"op": "remove", "path": "emails[type eq \"home\"]"}])
            )),
            ScimType::NoTarget
        );
        assert_eq!(
            kind(body(
                json!([{"op": "add", "path": "urn:x:y:z", "value": "x"}])
            )),
            ScimType::InvalidPath
        );
    }
}
