use sqlx::Row;

use super::{Store, new_id};
use crate::directory::{LockReason, Profile, User};
use crate::error::{Error, Result};

/// What the administrator supplies for a new account.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub username: String,
    pub password_hash: Option<String>,
    pub admin_role: Option<crate::roles::Role>,
}

/// The column list, as a macro so queries stay `&'static str` literals.
macro_rules! user_columns {
    () => {
        "id, email, first_name, last_name, username, profile, password_hash, \
         password_changed_at, failed_attempts, locked_reason, created_at, admin_role, external_id, \
         modified_at"
    };
}
// One column list for every query that reads users whole (`user_from_row`).
pub(super) use user_columns;

pub(super) fn user_from_row(row: &super::Row) -> Result<User> {
    let profile: String = row.try_get("profile")?;
    let locked: Option<String> = row.try_get("locked_reason")?;
    let created_at: i64 = row.try_get("created_at")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        username: row.try_get("username")?,
        profile: serde_json::from_str::<Profile>(&profile)
            .map_err(|e| Error::Corrupt(format!("user profile: {e}")))?,
        password_hash: row.try_get("password_hash")?,
        password_changed_at: row.try_get("password_changed_at")?,
        failed_attempts: row.try_get("failed_attempts")?,
        locked: locked.as_deref().and_then(LockReason::parse),
        created_at,
        modified_at: row
            .try_get::<Option<i64>, _>("modified_at")?
            .unwrap_or(created_at),
        admin_role: row
            .try_get::<Option<String>, _>("admin_role")?
            .as_deref()
            .and_then(crate::roles::Role::parse),
        external_id: row.try_get("external_id")?,
    })
}

pub(super) fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    pub async fn create_user(&self, new: &NewUser, now: i64) -> Result<User> {
        let id = new_id();
        let changed = new.password_hash.as_ref().map(|_| now);
        let res = sqlx::query(
            "INSERT INTO users (id, email, first_name, last_name, username, password_hash, \
             password_changed_at, created_at, admin_role, search) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(&new.email)
        .bind(&new.first_name)
        .bind(&new.last_name)
        .bind(&new.username)
        .bind(&new.password_hash)
        .bind(changed)
        .bind(now)
        .bind(new.admin_role.map(|r| r.as_str()))
        .bind(search_text(
            &new.email,
            &new.first_name,
            &new.last_name,
            &new.username,
        ))
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if unique_violation(&e) => {
                return Err(Error::Conflict(format!("a user with email {}", new.email)));
            }
            other => other?,
        };
        if let Some(hash) = &new.password_hash {
            self.push_password_history(&id, hash, now).await?;
        }
        self.user_by_id(&id)
            .await?
            .ok_or_else(|| Error::NotFound("user just created".into()))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY email"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Every user with this username (usernames are not unique).
    pub async fn users_by_username(&self, username: &str) -> Result<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = $1 ORDER BY email"
        ))
        .bind(username)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn delete_user(&self, id: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Saves names and profile in one statement.
    pub async fn update_profile(
        &self,
        id: &str,
        first_name: &str,
        last_name: &str,
        username: &str,
        profile: &Profile,
    ) -> Result<()> {
        let doc = serde_json::to_string(profile).map_err(|e| Error::Corrupt(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let search = search_text(
            email.as_deref().unwrap_or(""),
            first_name,
            last_name,
            username,
        );
        sqlx::query(
            "UPDATE users SET first_name = $1, last_name = $2, username = $3, profile = $4, search = $5, \
             modified_at = $7 WHERE id = $6",
        )
        .bind(first_name)
        .bind(last_name)
        .bind(username)
        .bind(doc)
        .bind(search)
        .bind(id)
        .bind(crate::clock::now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts one failed attempt and returns the new count, or None when no
    /// user has the id (the sign-in path runs the same statement for an
    /// unknown email, so both cost one update). The increment is done by the
    /// database so concurrent failures are all counted.
    pub async fn record_failed_attempt(&self, id: &str) -> Result<Option<i64>> {
        let n: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET failed_attempts = failed_attempts + 1 WHERE id = $1 RETURNING failed_attempts",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(n)
    }

    pub async fn reset_failed_attempts(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE users SET failed_attempts = 0 WHERE id = $1 AND failed_attempts <> 0")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Locks the account, keeping an existing reason (an admin suspension is
    /// not downgraded to a failed-attempts lock). Returns whether it changed.
    pub async fn lock_user(&self, id: &str, reason: LockReason) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE users SET locked_reason = $1, modified_at = $3 WHERE id = $2 AND locked_reason IS NULL",
        )
        .bind(reason.as_str())
        .bind(id)
        .bind(crate::clock::now())
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Unlocks and clears the failed-attempt counter. An account locked
    /// because its password expired gets a fresh password age, or it would
    /// lock again at the next sign-in.
    pub async fn unlock_user(&self, id: &str, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE users SET failed_attempts = 0, \
             password_changed_at = CASE WHEN locked_reason = 'expired' THEN $1 ELSE password_changed_at END, \
             locked_reason = NULL, modified_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Sets or clears the administrator role attribute. Returns whether the
    /// user exists.
    pub async fn set_admin_role(&self, id: &str, role: Option<crate::roles::Role>) -> Result<bool> {
        let res = sqlx::query("UPDATE users SET admin_role = $1, modified_at = $3 WHERE id = $2")
            .bind(role.map(|r| r.as_str()))
            .bind(id)
            .bind(crate::clock::now())
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }
}

/// Which users a search finds; every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Lower-case text found anywhere in the email, the full name or the
    /// username.
    pub text: Option<String>,
    /// A member of the group with this name.
    pub group: Option<String>,
    pub locked: Option<bool>,
    /// Holds a role: one of these `admin_role` values, or a membership of
    /// one of these groups ...
    pub role_in: Option<(Vec<&'static str>, Vec<String>)>,
    /// ... and none of these (the stronger roles, which would win).
    pub role_not_in: Option<(Vec<&'static str>, Vec<String>)>,
}

/// What a text search looks in: email, full name and username, lower-cased
/// here (not by the database, whose LOWER is ASCII-only on SQLite), kept
/// in `users.search` by every write of those fields.
pub(super) fn search_text(email: &str, first: &str, last: &str, username: &str) -> String {
    format!("{email} {first} {last} {username}").to_lowercase()
}

/// Binds of a query whose text is put together from fixed fragments.
#[derive(Default)]
pub(super) struct Binds(Vec<String>);

impl Binds {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Adds a value and returns its placeholder.
    pub(super) fn push(&mut self, v: impl Into<String>) -> String {
        self.0.push(v.into());
        format!("${}", self.0.len())
    }

    pub(super) fn apply<'q>(
        &'q self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for v in &self.0 {
            q = q.bind(v.as_str());
        }
        q
    }
}

/// `%text%` for LIKE, with the wildcards in `text` taken literally.
pub(super) fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn role_condition(b: &mut Binds, (attrs, groups): &(Vec<&'static str>, Vec<String>)) -> String {
    let mut parts = Vec::new();
    if !attrs.is_empty() {
        let ps: Vec<String> = attrs.iter().map(|a| b.push(*a)).collect();
        // COALESCE: a NULL would make the NOT of the stronger roles NULL too.
        parts.push(format!("COALESCE(admin_role, '') IN ({})", ps.join(", ")));
    }
    if !groups.is_empty() {
        let ps: Vec<String> = groups.iter().map(|g| b.push(g.as_str())).collect();
        parts.push(format!(
            "id IN (SELECT m.user_id FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE g.name IN ({}))",
            ps.join(", ")
        ));
    }
    if parts.is_empty() {
        "1 = 0".into()
    } else {
        format!("({})", parts.join(" OR "))
    }
}

impl Store {
    /// One page of the users `filter` finds, by email, and how many it
    /// finds in all. Values are bound; the text is fixed fragments only.
    pub async fn search_users(
        &self,
        filter: &UserFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<User>, u64)> {
        let mut b = Binds::default();
        let mut conds: Vec<String> = Vec::new();
        if let Some(t) = &filter.text {
            // One precomputed column, so a search is one LIKE per row.
            let p = b.push(contains_pattern(t));
            conds.push(format!("search LIKE {p} ESCAPE '\\'"));
        }
        if let Some(g) = &filter.group {
            let p = b.push(g.as_str());
            conds.push(format!(
                "id IN (SELECT m.user_id FROM group_members m JOIN groups g ON g.id = m.group_id \
                 WHERE g.name = {p})"
            ));
        }
        match filter.locked {
            Some(true) => conds.push("locked_reason IS NOT NULL".into()),
            Some(false) => conds.push("locked_reason IS NULL".into()),
            None => {}
        }
        if let Some(r) = &filter.role_in {
            conds.push(role_condition(&mut b, r));
        }
        if let Some(r) = &filter.role_not_in {
            conds.push(format!("NOT {}", role_condition(&mut b, r)));
        }
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let count_sql = format!("SELECT COUNT(*) AS n FROM users{clause}");
        let total: i64 = b
            .apply(sqlx::query(sqlx::AssertSqlSafe(count_sql)))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        // LIMIT and OFFSET are integers, bound after the text binds.
        let n = b.len();
        let page_sql = format!(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users{} ORDER BY email LIMIT ${} OFFSET ${}"
            ),
            clause,
            n + 1,
            n + 2
        );
        let rows = b
            .apply(sqlx::query(sqlx::AssertSqlSafe(page_sql)))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let users = rows.iter().map(user_from_row).collect::<Result<Vec<_>>>()?;
        Ok((users, u64::try_from(total).unwrap_or(0)))
    }

    /// The group names of each of these users, by name.
    pub async fn groups_of_many(
        &self,
        user_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, Vec<String>>> {
        let mut out: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        if user_ids.is_empty() {
            return Ok(out);
        }
        let mut b = Binds::default();
        let ps: Vec<String> = user_ids.iter().map(|id| b.push(*id)).collect();
        let sql = format!(
            "SELECT m.user_id, g.name FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.user_id IN ({}) ORDER BY g.name",
            ps.join(", ")
        );
        for row in b
            .apply(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await?
        {
            out.entry(row.try_get("user_id")?)
                .or_default()
                .push(row.try_get("name")?);
        }
        Ok(out)
    }

    /// Changes the company email (the sign-in name). A taken one is
    /// [`Error::Conflict`].
    pub async fn set_email(&self, id: &str, email: &str) -> Result<()> {
        let Some(user) = self.user_by_id(id).await? else {
            return Ok(());
        };
        let search = search_text(email, &user.first_name, &user.last_name, &user.username);
        let res =
            sqlx::query("UPDATE users SET email = $1, search = $2, modified_at = $4 WHERE id = $3")
                .bind(email)
                .bind(&search)
                .bind(id)
                .bind(crate::clock::now())
                .execute(&self.pool)
                .await;
        match res {
            Err(e) if unique_violation(&e) => {
                Err(Error::Conflict(format!("a user with email {email}")))
            }
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }
}

impl Store {
    /// How many accounts are locked, for any reason.
    pub async fn locked_count(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE locked_reason IS NOT NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// How many unlocked accounts have a password last changed in
    /// `[from, to)`: with a maximum age, those whose password expires in a
    /// given window.
    pub async fn passwords_changed_between(&self, from: i64, to: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE locked_reason IS NULL \
             AND password_changed_at >= $1 AND password_changed_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?)
    }
}
