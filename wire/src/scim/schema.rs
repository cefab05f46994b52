//! What the server publishes about itself (RFC 7643 §5–§7): the service
//! provider configuration, the resource types, and the schemas. The schemas
//! list exactly the attributes the directory keeps, so a client that fills
//! every published attribute gets each one back as it sent it.

use serde_json::{Value, json};

use super::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, MAX_RESULTS, USER_SCHEMA};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    DateTime,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    ReadOnly,
    Immutable,
}

/// One attribute of a schema.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Type,
    pub multi: bool,
    pub required: bool,
    pub mutability: Mutability,
    pub case_exact: bool,
    pub unique: bool,
    pub canonical: &'static [&'static str],
    pub refs: &'static [&'static str],
    pub sub: &'static [Attr],
    pub description: &'static str,
}

const fn attr(name: &'static str, ty: Type, description: &'static str) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        required: false,
        mutability: Mutability::ReadWrite,
        case_exact: false,
        unique: false,
        canonical: &[],
        refs: &[],
        sub: &[],
        description,
    }
}

const fn complex(name: &'static str, sub: &'static [Attr], description: &'static str) -> Attr {
    let mut a = attr(name, Type::Complex, description);
    a.sub = sub;
    a
}

const fn multi(mut a: Attr) -> Attr {
    a.multi = true;
    a
}

const fn required(mut a: Attr) -> Attr {
    a.required = true;
    a
}

const fn read_only(mut a: Attr) -> Attr {
    a.mutability = Mutability::ReadOnly;
    a
}

const fn immutable(mut a: Attr) -> Attr {
    a.mutability = Mutability::Immutable;
    a
}

const fn canonical(mut a: Attr, values: &'static [&'static str]) -> Attr {
    a.canonical = values;
    a
}

const fn reference(mut a: Attr, refs: &'static [&'static str]) -> Attr {
    a.refs = refs;
    a.case_exact = true;
    a
}

const fn unique(mut a: Attr) -> Attr {
    a.unique = true;
    a
}

pub const USER_ATTRS: &[Attr] = &[
    unique(required(attr(
        "userName",
        Type::String,
        "The name the provisioning system knows the user by (often their user principal name).",
    ))),
    complex(
        "name",
        &[
            attr("givenName", Type::String, "First name."),
            attr("familyName", Type::String, "Last name."),
        ],
        "The user's name.",
    ),
    attr("displayName", Type::String, "The name shown for the user."),
    attr("title", Type::String, "Job title."),
    // Required: every account is active or suspended, so there is nothing
    // to remove (a POST without it is taken as active).
    required(attr(
        "active",
        Type::Boolean,
        "False suspends the account and ends its sessions; true lifts it.",
    )),
    required(multi(complex(
        "emails",
        &[
            required(attr(
                "value",
                Type::String,
                "The email address: the user's sign-in name.",
            )),
            canonical(
                attr("type", Type::String, "Only \"work\" is kept."),
                &["work"],
            ),
        ],
        "The work email, the user's sign-in name. One is kept.",
    ))),
    multi(complex(
        "phoneNumbers",
        &[
            required(attr("value", Type::String, "The phone number.")),
            canonical(
                attr(
                    "type",
                    Type::String,
                    "work, mobile, fax or home; one of each is kept.",
                ),
                &["work", "mobile", "fax", "home"],
            ),
        ],
        "Phone numbers.",
    )),
    multi(complex(
        "addresses",
        &[
            attr("streetAddress", Type::String, "Street."),
            attr("locality", Type::String, "City."),
            attr("region", Type::String, "State or region."),
            attr("postalCode", Type::String, "Zip or postal code."),
            attr("country", Type::String, "Country."),
            canonical(
                attr("type", Type::String, "work or home; one of each is kept."),
                &["work", "home"],
            ),
        ],
        "Postal addresses.",
    )),
    read_only(multi(complex(
        "groups",
        &[
            read_only(attr("value", Type::String, "The group's id.")),
            read_only(reference(
                attr("$ref", Type::Reference, "The group's URI."),
                &["Group"],
            )),
            read_only(attr("display", Type::String, "The group's name.")),
        ],
        "The groups the user is in; change them through the groups' members.",
    ))),
];

pub const ENTERPRISE_ATTRS: &[Attr] = &[
    attr("employeeNumber", Type::String, "Employee number."),
    attr("costCenter", Type::String, "Cost center."),
    attr("organization", Type::String, "Organization."),
    attr("division", Type::String, "Division."),
    attr("department", Type::String, "Department."),
    complex(
        "manager",
        &[
            attr("value", Type::String, "The manager's user id."),
            reference(
                attr("$ref", Type::Reference, "The manager's URI."),
                &["User"],
            ),
        ],
        "The user's manager.",
    ),
];

pub const GROUP_ATTRS: &[Attr] = &[
    unique(required(attr(
        "displayName",
        Type::String,
        "The group's name.",
    ))),
    multi(complex(
        "members",
        &[
            immutable(attr("value", Type::String, "The member's user id.")),
            immutable(reference(
                attr("$ref", Type::Reference, "The member's URI."),
                &["User"],
            )),
        ],
        "The group's members (users only: groups do not nest).",
    )),
];

/// The attributes of a schema by URN.
pub fn attrs_of(schema: &str) -> &'static [Attr] {
    if schema.eq_ignore_ascii_case(USER_SCHEMA) {
        USER_ATTRS
    } else if schema.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
        ENTERPRISE_ATTRS
    } else if schema.eq_ignore_ascii_case(GROUP_SCHEMA) {
        GROUP_ATTRS
    } else {
        &[]
    }
}

/// The attribute `name` of `schema`, or of `id`/`externalId`/`meta`.
pub fn find(schema: &str, name: &str) -> Option<&'static Attr> {
    attrs_of(schema)
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

fn attr_json(a: &Attr) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": match a.ty {
            Type::String => "string",
            Type::Boolean => "boolean",
            Type::DateTime => "dateTime",
            Type::Reference => "reference",
            Type::Complex => "complex",
        },
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": match a.mutability {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::Immutable => "immutable",
        },
        "returned": "default",
        "uniqueness": if a.unique { "server" } else { "none" },
    });
    if !a.canonical.is_empty() {
        v["canonicalValues"] = json!(a.canonical);
    }
    if !a.refs.is_empty() {
        v["referenceTypes"] = json!(a.refs);
    }
    if !a.sub.is_empty() {
        v["subAttributes"] = Value::Array(a.sub.iter().map(attr_json).collect());
    }
    v
}

fn schema_json(base: &str, id: &str, name: &str, description: &str, attrs: &[Attr]) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    })
}

/// Every schema, as `/Schemas` lists them.
pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        schema_json(base, USER_SCHEMA, "User", "User account", USER_ATTRS),
        schema_json(
            base,
            ENTERPRISE_SCHEMA,
            "EnterpriseUser",
            "Employment information",
            ENTERPRISE_ATTRS,
        ),
        schema_json(base, GROUP_SCHEMA, "Group", "Group", GROUP_ATTRS),
    ]
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User account",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

pub fn service_provider_config(base: &str, docs: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": docs,
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A token per provisioning client, made with `portcullis admin scim-clients add NAME`.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}
