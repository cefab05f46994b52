//! The `claims` request parameter (OIDC Core 5.5): which individual claims
//! the client asks for in the ID token and at userinfo, beyond its scopes,
//! and whether it makes an `acr` essential. Only claims we hold are ever
//! released, and only those the client's allowed scopes cover; names we do
//! not know are ignored, as the specification says.

use serde_json::{Map, Value};

use super::authorize::{ACR_MFA, ACR_PWD};
use super::wire::OAuthError;

/// Where a requested claim is to appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    IdToken,
    Userinfo,
}

impl Target {
    fn member(self) -> &'static str {
        match self {
            Self::IdToken => "id_token",
            Self::Userinfo => "userinfo",
        }
    }
}

/// A checked `claims` request: a JSON object whose `id_token` and
/// `userinfo` members, where present, map claim names to `null` or an
/// object (`essential`, `value`, `values`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimsRequest(Map<String, Value>);

impl ClaimsRequest {
    /// Reads the parameter's value; a malformed one is `invalid_request`.
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        let bad = |why: &str| OAuthError::invalid_request(format!("claims: {why}"));
        let Ok(Value::Object(top)) = serde_json::from_str::<Value>(raw) else {
            return Err(bad("must be a JSON object"));
        };
        let mut kept = Map::new();
        for (member, v) in top {
            if member != "id_token" && member != "userinfo" {
                // Other members are extensions we do not implement.
                continue;
            }
            let Value::Object(entries) = v else {
                return Err(bad("id_token and userinfo must be objects"));
            };
            for (name, spec) in &entries {
                match spec {
                    Value::Null => {}
                    Value::Object(o) => {
                        if o.get("essential").is_some_and(|e| !e.is_boolean()) {
                            return Err(bad(&format!("{name}: essential must be a boolean")));
                        }
                        if o.get("values").is_some_and(|e| !e.is_array()) {
                            return Err(bad(&format!("{name}: values must be an array")));
                        }
                    }
                    _ => return Err(bad(&format!("{name}: must be null or an object"))),
                }
            }
            kept.insert(member, Value::Object(entries));
        }
        Ok(Self(kept))
    }

    /// The stored form (what [`Self::from_stored`] reads back).
    pub fn to_stored(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    /// A stored request; anything unreadable is an empty request.
    pub fn from_stored(raw: Option<&str>) -> Self {
        raw.and_then(|r| Self::parse(r).ok()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names requested for `target`.
    pub fn names(&self, target: Target) -> Vec<&str> {
        match self.0.get(target.member()) {
            Some(Value::Object(m)) => m.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the ID token's `acr` is essential and only a second factor
    /// meets it (`value` or `values` naming `mfa` and not `pwd`).
    pub fn essential_mfa(&self) -> bool {
        let Some(Value::Object(spec)) = self
            .0
            .get("id_token")
            .and_then(|m| m.get("acr"))
            .or_else(|| self.0.get("userinfo").and_then(|m| m.get("acr")))
        else {
            return false;
        };
        if spec.get("essential") != Some(&Value::Bool(true)) {
            return false;
        }
        let mut wanted: Vec<&str> = Vec::new();
        if let Some(v) = spec.get("value").and_then(Value::as_str) {
            wanted.push(v);
        }
        if let Some(Value::Array(vs)) = spec.get("values") {
            wanted.extend(vs.iter().filter_map(Value::as_str));
        }
        wanted.contains(&ACR_MFA) && !wanted.contains(&ACR_PWD)
    }

    /// Adds to `released` the claims requested for `target` that `held`
    /// (every claim the client's scopes could release) has.
    pub fn release(&self, target: Target, held: &Value, released: &mut Value) {
        for name in self.names(target) {
            if released.get(name).is_none()
                && let Some(v) = held.get(name)
            {
                released[name] = v.clone();
            }
        }
    }
}
