//! The SCIM operations over the core: authenticate a provisioning client,
//! then list, read, create, replace, patch and delete Users and Groups.
//! Every write goes through [`crate::admin`] with the client as the
//! [`Actor`], so it is validated and audited as any administrative write.

use serde_json::{Map, Value, json};

use super::filter::{self, AttrPath, Filter};
use super::patch::{self, Schemas};
use super::{
    DEFAULT_COUNT, ENTERPRISE_SCHEMA, GROUP_SCHEMA, LIST_SCHEMA, MAX_RESULTS, Result, ScimError,
    ScimType, USER_SCHEMA, get_ci, groups, users,
};
use crate::admin::{self, Actor};
use crate::directory::User;
use crate::idp::Idp;
use crate::store::UserKey;

const USER_SCHEMAS: Schemas = Schemas {
    core: USER_SCHEMA,
    extensions: &[ENTERPRISE_SCHEMA],
};
const GROUP_SCHEMAS: Schemas = Schemas {
    core: GROUP_SCHEMA,
    extensions: &[],
};

/// An authenticated provisioning client.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub ip: Option<String>,
}

impl Client {
    /// The actor its writes are audited under: `client:scim:<name>`.
    pub fn actor(&self) -> Actor {
        Actor::Client {
            client_id: format!("scim:{}", self.name),
            ip: self.ip.clone(),
        }
    }
}

/// One resource as answered: its JSON (projected), version and address.
#[derive(Debug, Clone)]
pub struct Resource {
    pub json: Value,
    pub etag: String,
    pub location: String,
}

/// A list or search request (query parameters or a SearchRequest body).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub descending: bool,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub attributes: Vec<String>,
    pub excluded_attributes: Vec<String>,
}

impl ListQuery {
    /// Reads a SearchRequest body (RFC 7644 §3.4.3).
    pub fn from_search(body: &Value) -> Result<Self> {
        if !body.is_object() {
            return Err(ScimError::bad(
                ScimType::InvalidSyntax,
                "a SearchRequest is a JSON object",
            ));
        }
        let s = |k: &str| -> Result<Option<String>> {
            match get_ci(body, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::bad(
                    ScimType::InvalidSyntax,
                    format!("{k} must be a string"),
                )),
            }
        };
        let n = |k: &str| -> Result<Option<i64>> {
            match get_ci(body, k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    ScimError::bad(ScimType::InvalidSyntax, format!("{k} must be an integer"))
                }),
            }
        };
        let list = |k: &str| -> Result<Vec<String>> {
            match get_ci(body, k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            ScimError::bad(ScimType::InvalidSyntax, format!("{k} lists strings"))
                        })
                    })
                    .collect(),
                Some(Value::String(s)) => Ok(split_list(s)),
                Some(_) => Err(ScimError::bad(
                    ScimType::InvalidSyntax,
                    format!("{k} must be an array"),
                )),
            }
        };
        Ok(Self {
            filter: s("filter")?,
            sort_by: s("sortBy")?,
            descending: parse_order(s("sortOrder")?.as_deref())?,
            start_index: n("startIndex")?,
            count: n("count")?,
            attributes: list("attributes")?,
            excluded_attributes: list("excludedAttributes")?,
        })
    }
}

/// `attributes=a,b` as a list.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `sortOrder`: ascending unless it says descending.
pub fn parse_order(s: Option<&str>) -> Result<bool> {
    match s.map(str::to_ascii_lowercase).as_deref() {
        None | Some("ascending") | Some("") => Ok(false),
        Some("descending") => Ok(true),
        Some(_) => Err(ScimError::value("sortOrder is ascending or descending")),
    }
}

/// A page of results.
#[derive(Debug, Clone)]
pub struct ListResponse {
    pub total: usize,
    pub start_index: usize,
    pub resources: Vec<Value>,
}

impl ListResponse {
    pub fn to_json(&self) -> Value {
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": self.total,
            "startIndex": self.start_index,
            "itemsPerPage": self.resources.len(),
            "Resources": self.resources,
        })
    }
}

/// What a list request asks for, checked.
struct Plan {
    filter: Option<Filter>,
    sort: Option<AttrPath>,
    descending: bool,
    /// 1-based.
    start: usize,
    count: usize,
}

fn plan(q: &ListQuery) -> Result<Plan> {
    let filter = q
        .filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(filter::parse)
        .transpose()?;
    let sort = q
        .sort_by
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            AttrPath::parse(s.trim())
                .ok_or_else(|| ScimError::value(format!("sortBy {s:?} is not an attribute path")))
        })
        .transpose()?;
    // RFC 7644 §3.4.2.4: below 1 is 1; a negative count is 0.
    let start = q.start_index.unwrap_or(1).max(1) as usize;
    let count = q
        .count
        .map(|c| c.clamp(0, MAX_RESULTS as i64) as usize)
        .unwrap_or(DEFAULT_COUNT);
    Ok(Plan {
        filter,
        sort,
        descending: q.descending,
        start,
        count,
    })
}

/// Sorts (when asked; missing values last when ascending) and takes the page.
fn paginate(mut all: Vec<Value>, plan: &Plan, schema: &str) -> ListResponse {
    if let Some(path) = &plan.sort {
        let key = |v: &Value| filter::sort_key(v, path, schema);
        all.sort_by(|a, b| {
            let (ka, kb) = (key(a), key(b));
            let ord = match (&ka, &kb) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) => cmp_values(x, y),
            };
            if plan.descending { ord.reverse() } else { ord }
        });
    }
    let total = all.len();
    let resources = all
        .into_iter()
        .skip(plan.start - 1)
        .take(plan.count)
        .collect();
    ListResponse {
        total,
        start_index: plan.start,
        resources,
    }
}

fn cmp_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// Keeps what `attributes` asks for (plus `id` and `schemas`, always
/// returned), or drops what `excludedAttributes` names.
pub fn project(
    resource: Value,
    attributes: &[String],
    excluded: &[String],
    schemas: Schemas,
) -> Value {
    if attributes.is_empty() && excluded.is_empty() {
        return resource;
    }
    let Value::Object(src) = resource else {
        return resource;
    };
    let ext_of = |p: &str| {
        schemas
            .extensions
            .iter()
            .find(|e| e.eq_ignore_ascii_case(p))
            .copied()
    };
    if !attributes.is_empty() {
        let mut out = Map::new();
        for k in ["schemas", "id"] {
            if let Some(v) = src.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
        for a in attributes {
            if let Some(ext) = ext_of(a) {
                if let Some(v) = src.get(ext) {
                    out.insert(ext.into(), v.clone());
                }
                continue;
            }
            let Some(path) = AttrPath::parse(a) else {
                continue;
            };
            copy_path(&src, &mut out, &path, schemas);
        }
        return Value::Object(out);
    }
    let mut out = src;
    for a in excluded {
        if let Some(ext) = ext_of(a) {
            out.remove(ext);
            continue;
        }
        let Some(path) = AttrPath::parse(a) else {
            continue;
        };
        if path.attr.eq_ignore_ascii_case("id") || path.attr.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let holder = match &path.urn {
            Some(u) if !u.eq_ignore_ascii_case(schemas.core) => {
                match ext_of(u)
                    .and_then(|e| out.get_mut(e))
                    .and_then(Value::as_object_mut)
                {
                    Some(h) => h,
                    None => continue,
                }
            }
            _ => &mut out,
        };
        let Some(key) = super::key_ci(holder, &path.attr) else {
            continue;
        };
        match &path.sub {
            None => {
                holder.remove(&key);
            }
            Some(sub) => match holder.get_mut(&key) {
                Some(Value::Array(items)) => items.iter_mut().for_each(|i| drop_key(i, sub)),
                Some(v) => drop_key(v, sub),
                None => {}
            },
        }
    }
    Value::Object(out)
}

fn drop_key(v: &mut Value, name: &str) {
    if let Value::Object(o) = v
        && let Some(k) = super::key_ci(o, name)
    {
        o.remove(&k);
    }
}

fn copy_path(
    src: &Map<String, Value>,
    out: &mut Map<String, Value>,
    path: &AttrPath,
    schemas: Schemas,
) {
    let (from, to): (&Map<String, Value>, &mut Map<String, Value>) = match &path.urn {
        Some(u) if !u.eq_ignore_ascii_case(schemas.core) => {
            let Some(ext) = schemas
                .extensions
                .iter()
                .find(|e| e.eq_ignore_ascii_case(u))
            else {
                return;
            };
            let Some(Value::Object(from)) = src.get(*ext) else {
                return;
            };
            let to = out
                .entry(ext.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(to) = to else { return };
            (from, to)
        }
        _ => (src, out),
    };
    let Some(key) = super::key_ci(from, &path.attr) else {
        return;
    };
    let value = &from[&key];
    match &path.sub {
        None => {
            to.insert(key, value.clone());
        }
        Some(sub) => {
            let pick = |item: &Value| -> Option<Value> {
                let k = super::key_ci(item.as_object()?, sub)?;
                Some(json!({ k.clone(): item[&k].clone() }))
            };
            let picked = match value {
                Value::Array(items) => {
                    let kept: Vec<Value> = items.iter().filter_map(pick).collect();
                    if kept.is_empty() {
                        return;
                    }
                    Value::Array(kept)
                }
                v => match pick(v) {
                    Some(p) => match (to.get_mut(&key), p) {
                        (Some(Value::Object(existing)), Value::Object(p)) => {
                            existing.extend(p);
                            return;
                        }
                        (_, p) => p,
                    },
                    None => return,
                },
            };
            to.insert(key, picked);
        }
    }
}

fn check_if_match(if_match: Option<&str>, current: &str) -> Result<()> {
    match if_match {
        Some(h) if !super::if_match_admits(h, current) => {
            Err(ScimError::PreconditionFailed(h.to_string()))
        }
        _ => Ok(()),
    }
}

fn resource(json: Value, q: &ListQuery, schemas: Schemas) -> Resource {
    let etag = json["meta"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let location = json["meta"]["location"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Resource {
        json: project(json, &q.attributes, &q.excluded_attributes, schemas),
        etag,
        location,
    }
}

/// Whether a filter or sort names `attr` (so resources must carry it).
fn mentions(q: &ListQuery, attr: &str) -> bool {
    let text = |s: &Option<String>| {
        s.as_deref()
            .is_some_and(|s| s.to_ascii_lowercase().contains(attr))
    };
    text(&q.filter) || text(&q.sort_by)
}

/// How many users a scan reads per query.
const SCAN_BATCH: i64 = 500;

impl Idp {
    /// The absolute base of SCIM resource locations.
    pub fn scim_base(&self) -> String {
        format!(
            "{}{}",
            self.config.public_url.as_str().trim_end_matches('/'),
            crate::paths::SCIM_BASE
        )
    }

    /// The provisioning client whose bearer token this is; anything else
    /// (no token, a revoked or unknown one, a personal API key) is
    /// [`ScimError::Unauthorized`].
    pub async fn scim_authenticate(
        &self,
        token: Option<&str>,
        ip: Option<String>,
    ) -> Result<Client> {
        let Some(token) =
            token.filter(|t| t.starts_with(admin::scim_clients::PREFIX) && t.len() < 200)
        else {
            return Err(ScimError::Unauthorized);
        };
        let hash = admin::scim_clients::hash(token);
        match self
            .store
            .use_scim_client(&hash, crate::clock::now())
            .await?
        {
            Some((row, stored)) if crate::crypto::ct_eq(stored.as_bytes(), hash.as_bytes()) => {
                Ok(Client {
                    id: row.id,
                    name: row.name,
                    ip,
                })
            }
            _ => Err(ScimError::Unauthorized),
        }
    }

    async fn scim_user_json(&self, user: &User, with_groups: bool) -> Result<Value> {
        let groups = if with_groups {
            self.store.user_groups(&user.id).await?
        } else {
            Vec::new()
        };
        Ok(users::render(user, &groups, &self.scim_base()))
    }

    async fn scim_user_by_id(&self, id: &str) -> Result<User> {
        self.store
            .user_by_id(id)
            .await?
            .ok_or_else(|| ScimError::NotFound(format!("User {id}")))
    }

    /// Every user matching the plan's filter, rendered.
    async fn scim_matching_users(&self, plan: &Plan, q: &ListQuery) -> Result<Vec<Value>> {
        let with_groups = mentions(q, "groups");
        let keep = |v: &Value| {
            plan.filter
                .as_ref()
                .is_none_or(|f| filter::matches(f, v, USER_SCHEMA))
        };
        let indexed = plan
            .filter
            .as_ref()
            .and_then(filter::simple_eq)
            .and_then(|(attr, v)| {
                let key = match attr.as_str() {
                    "username" => UserKey::Username,
                    "emails" | "emails.value" => UserKey::Email,
                    "externalid" => UserKey::ExternalId,
                    "id" => UserKey::Id,
                    _ => return None,
                };
                Some((key, v.to_string()))
            });
        let mut out = Vec::new();
        if let Some((key, value)) = indexed {
            for u in self.store.users_where(key, &value).await? {
                let v = self.scim_user_json(&u, with_groups).await?;
                if keep(&v) {
                    out.push(v);
                }
            }
            return Ok(out);
        }
        let mut offset = 0;
        loop {
            let batch = self.store.users_page(offset, SCAN_BATCH).await?;
            for u in &batch {
                let v = self.scim_user_json(u, with_groups).await?;
                if keep(&v) {
                    out.push(v);
                }
            }
            if (batch.len() as i64) < SCAN_BATCH {
                break;
            }
            offset += SCAN_BATCH;
        }
        Ok(out)
    }

    /// A user matched without their groups, rendered again with them.
    async fn scim_with_groups(&self, r: &mut Value) -> Result<()> {
        if let Some(id) = r["id"].as_str()
            && let Some(u) = self.store.user_by_id(id).await?
        {
            *r = self.scim_user_json(&u, true).await?;
        }
        Ok(())
    }

    pub async fn scim_list_users(&self, q: &ListQuery) -> Result<ListResponse> {
        let plan = plan(q)?;
        let mut page = if plan.filter.is_none() && plan.sort.is_none() {
            // The common case, a plain page: one bounded query, no scan.
            let total = self.store.count_users().await? as usize;
            let users = self
                .store
                .users_page(plan.start as i64 - 1, plan.count as i64)
                .await?;
            let mut resources = Vec::with_capacity(users.len());
            for u in &users {
                resources.push(self.scim_user_json(u, true).await?);
            }
            ListResponse {
                total,
                start_index: plan.start,
                resources,
            }
        } else {
            let mut page = paginate(
                self.scim_matching_users(&plan, q).await?,
                &plan,
                USER_SCHEMA,
            );
            // The match did not need the groups; the answer shows them.
            if !mentions(q, "groups") {
                for r in page.resources.iter_mut() {
                    self.scim_with_groups(r).await?;
                }
            }
            page
        };
        for r in page.resources.iter_mut() {
            *r = project(
                std::mem::take(r),
                &q.attributes,
                &q.excluded_attributes,
                USER_SCHEMAS,
            );
        }
        Ok(page)
    }

    pub async fn scim_get_user(&self, id: &str, q: &ListQuery) -> Result<Resource> {
        let user = self.scim_user_by_id(id).await?;
        Ok(resource(
            self.scim_user_json(&user, true).await?,
            q,
            USER_SCHEMAS,
        ))
    }

    async fn scim_username_free(&self, username: &str, except: Option<&str>) -> Result<()> {
        let taken = self
            .store
            .users_where(UserKey::Username, username)
            .await?
            .into_iter()
            .any(|u| Some(u.id.as_str()) != except);
        if taken {
            return Err(ScimError::Uniqueness(format!(
                "a user with userName {username:?} already exists"
            )));
        }
        Ok(())
    }

    pub async fn scim_create_user(&self, client: &Client, body: &Value) -> Result<Resource> {
        let desired = users::read(body, None)?;
        self.scim_username_free(&desired.record.username, None)
            .await?;
        let actor = client.actor();
        let r = desired.record;
        let view = admin::users::add(
            self,
            &actor,
            admin::users::NewUser {
                email: r.email,
                first_name: r.first_name,
                last_name: r.last_name,
                username: Some(r.username),
                // Provisioned users sign in by reset link, passkey or federation.
                password: None,
                groups: Vec::new(),
                profile: r.profile,
                external_id: r.external_id,
                role: None,
            },
        )
        .await?;
        if desired.active == Some(false) {
            admin::users::lock(self, &actor, &view.user.email).await?;
        }
        let user = self.scim_user_by_id(&view.user.id).await?;
        Ok(resource(
            self.scim_user_json(&user, true).await?,
            &ListQuery::default(),
            USER_SCHEMAS,
        ))
    }

    async fn scim_apply_user(
        &self,
        client: &Client,
        user: &User,
        desired: users::Desired,
    ) -> Result<Resource> {
        if !desired.record.username.eq_ignore_ascii_case(&user.username) {
            self.scim_username_free(&desired.record.username, Some(&user.id))
                .await?;
        }
        let actor = client.actor();
        let updated = admin::users::replace(self, &actor, &user.id, desired.record).await?;
        match desired.active {
            Some(false) if users::active(&updated) => {
                admin::users::lock(self, &actor, &updated.email).await?;
            }
            Some(true) if !users::active(&updated) => {
                admin::users::unlock(self, &actor, &updated.email).await?;
            }
            _ => {}
        }
        let user = self.scim_user_by_id(&user.id).await?;
        Ok(resource(
            self.scim_user_json(&user, true).await?,
            &ListQuery::default(),
            USER_SCHEMAS,
        ))
    }

    pub async fn scim_replace_user(
        &self,
        client: &Client,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Resource> {
        let user = self.scim_user_by_id(id).await?;
        let current = self.scim_user_json(&user, true).await?;
        check_if_match(
            if_match,
            current["meta"]["version"].as_str().unwrap_or_default(),
        )?;
        if let Some(Value::String(sent)) = get_ci(body, "id")
            && sent != id
        {
            return Err(ScimError::bad(ScimType::Mutability, "id cannot change"));
        }
        let desired = users::read(body, Some(&user.profile))?;
        self.scim_apply_user(client, &user, desired).await
    }

    pub async fn scim_patch_user(
        &self,
        client: &Client,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Resource> {
        let ops = patch::parse(body)?;
        let user = self.scim_user_by_id(id).await?;
        let mut current = self.scim_user_json(&user, true).await?;
        check_if_match(
            if_match,
            current["meta"]["version"].as_str().unwrap_or_default(),
        )?;
        patch::apply(&mut current, &ops, USER_SCHEMAS)?;
        let desired = users::read(&current, Some(&user.profile))?;
        self.scim_apply_user(client, &user, desired).await
    }

    pub async fn scim_delete_user(
        &self,
        client: &Client,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let user = self.scim_user_by_id(id).await?;
        let current = self.scim_user_json(&user, true).await?;
        check_if_match(
            if_match,
            current["meta"]["version"].as_str().unwrap_or_default(),
        )?;
        admin::users::delete(self, &client.actor(), &user.email).await?;
        Ok(())
    }

    async fn scim_group_json(&self, row: &crate::store::ScimGroupRow) -> Result<Value> {
        let members = self.store.group_members(&row.id).await?;
        Ok(groups::render(row, &members, &self.scim_base()))
    }

    async fn scim_group_row(&self, id: &str) -> Result<crate::store::ScimGroupRow> {
        self.store
            .scim_group(id)
            .await?
            .ok_or_else(|| ScimError::NotFound(format!("Group {id}")))
    }

    async fn scim_matching_groups(&self, plan: &Plan) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for row in self.store.scim_groups().await? {
            let v = self.scim_group_json(&row).await?;
            if plan
                .filter
                .as_ref()
                .is_none_or(|f| filter::matches(f, &v, GROUP_SCHEMA))
            {
                out.push(v);
            }
        }
        Ok(out)
    }

    pub async fn scim_list_groups(&self, q: &ListQuery) -> Result<ListResponse> {
        let plan = plan(q)?;
        let mut page = paginate(self.scim_matching_groups(&plan).await?, &plan, GROUP_SCHEMA);
        for r in page.resources.iter_mut() {
            *r = project(
                std::mem::take(r),
                &q.attributes,
                &q.excluded_attributes,
                GROUP_SCHEMAS,
            );
        }
        Ok(page)
    }

    /// `POST /.search` at the root: users, then groups.
    pub async fn scim_search_all(&self, q: &ListQuery) -> Result<ListResponse> {
        let plan = plan(q)?;
        let mut all = self.scim_matching_users(&plan, q).await?;
        all.extend(self.scim_matching_groups(&plan).await?);
        let mut page = paginate(all, &plan, USER_SCHEMA);
        for r in page.resources.iter_mut() {
            if r["meta"]["resourceType"] == "User" && !mentions(q, "groups") {
                self.scim_with_groups(r).await?;
            }
            let schemas = if r["meta"]["resourceType"] == "Group" {
                GROUP_SCHEMAS
            } else {
                USER_SCHEMAS
            };
            *r = project(
                std::mem::take(r),
                &q.attributes,
                &q.excluded_attributes,
                schemas,
            );
        }
        Ok(page)
    }

    pub async fn scim_get_group(&self, id: &str, q: &ListQuery) -> Result<Resource> {
        let row = self.scim_group_row(id).await?;
        Ok(resource(
            self.scim_group_json(&row).await?,
            q,
            GROUP_SCHEMAS,
        ))
    }

    /// The members' accounts, each looked up before anything is written.
    async fn scim_members(&self, ids: &[String]) -> Result<Vec<User>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let u = self
                .store
                .user_by_id(id)
                .await?
                .ok_or_else(|| ScimError::value(format!("members: no user with id {id:?}")))?;
            out.push(u);
        }
        Ok(out)
    }

    pub async fn scim_create_group(&self, client: &Client, body: &Value) -> Result<Resource> {
        let desired = groups::read(body)?;
        let members = self.scim_members(&desired.members).await?;
        let actor = client.actor();
        let group = admin::groups::add(self, &actor, &desired.name).await?;
        if desired.external_id.is_some() {
            admin::groups::update(
                self,
                &actor,
                &group.name,
                &group.name,
                desired.external_id.as_deref(),
            )
            .await?;
        }
        for u in &members {
            admin::groups::add_member(self, &actor, &group.name, &u.email).await?;
        }
        let row = self.scim_group_row(&group.id).await?;
        Ok(resource(
            self.scim_group_json(&row).await?,
            &ListQuery::default(),
            GROUP_SCHEMAS,
        ))
    }

    async fn scim_apply_group(
        &self,
        client: &Client,
        row: &crate::store::ScimGroupRow,
        desired: groups::Desired,
    ) -> Result<Resource> {
        let members = self.scim_members(&desired.members).await?;
        let actor = client.actor();
        let group = admin::groups::update(
            self,
            &actor,
            &row.name,
            &desired.name,
            desired.external_id.as_deref(),
        )
        .await?;
        let before = self.store.group_members(&row.id).await?;
        for m in &before {
            if !desired.members.contains(&m.user_id) {
                admin::groups::remove_member(self, &actor, &group.name, &m.email).await?;
            }
        }
        for u in &members {
            if !before.iter().any(|m| m.user_id == u.id) {
                admin::groups::add_member(self, &actor, &group.name, &u.email).await?;
            }
        }
        let row = self.scim_group_row(&row.id).await?;
        Ok(resource(
            self.scim_group_json(&row).await?,
            &ListQuery::default(),
            GROUP_SCHEMAS,
        ))
    }

    pub async fn scim_replace_group(
        &self,
        client: &Client,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Resource> {
        let row = self.scim_group_row(id).await?;
        let current = self.scim_group_json(&row).await?;
        check_if_match(
            if_match,
            current["meta"]["version"].as_str().unwrap_or_default(),
        )?;
        if let Some(Value::String(sent)) = get_ci(body, "id")
            && sent != id
        {
            return Err(ScimError::bad(ScimType::Mutability, "id cannot change"));
        }
        let desired = groups::read(body)?;
        self.scim_apply_group(client, &row, desired).await
    }

    pub async fn scim_patch_group(
        &self,
        client: &Client,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Resource> {
        let ops = patch::parse(body)?;
        let row = self.scim_group_row(id).await?;
        let mut current = self.scim_group_json(&row).await?;
        check_if_match(
            if_match,
            current["meta"]["version"].as_str().unwrap_or_default(),
        )?;
        patch::apply(&mut current, &ops, GROUP_SCHEMAS)?;
        let desired = groups::read(&current)?;
        self.scim_apply_group(client, &row, desired).await
    }

    pub async fn scim_delete_group(
        &self,
        client: &Client,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let row = self.scim_group_row(id).await?;
        let current = self.scim_group_json(&row).await?;
        check_if_match(
            if_match,
            current["meta"]["version"].as_str().unwrap_or_default(),
        )?;
        admin::groups::delete(self, &client.actor(), &row.name, None).await?;
        Ok(())
    }
}
