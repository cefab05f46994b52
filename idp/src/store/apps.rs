use sqlx::Row;

use super::{Store, new_id};
use crate::directory::{AppKind, Application};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct NewApplication {
    pub name: String,
    pub description: String,
    pub detail_url: Option<String>,
    pub logo_url: Option<String>,
    pub launch_url: String,
}

/// An application protected by a gateway policy, as the policy file says it.
#[derive(Debug, Clone, Default)]
pub struct PolicyApplication {
    /// The policy file's name without `.toml`.
    pub policy_id: String,
    pub name: String,
    pub description: String,
    pub launch_url: String,
    /// Every signed-in user may open it.
    pub everyone: bool,
    /// Otherwise the groups whose members may open it (created when missing).
    pub groups: Vec<String>,
}

fn app_from_row(r: &super::Row) -> Application {
    Application {
        id: r.get("id"),
        name: r.get("name"),
        description: r.get("description"),
        detail_url: r.get("detail_url"),
        logo_url: r.get("logo_url"),
        launch_url: r.get("launch_url"),
        kind: AppKind::Bookmark,
    }
}

/// The column list, as a macro so queries stay `&'static str` literals.
macro_rules! app_columns {
    () => {
        "a.id, a.name, a.description, a.detail_url, a.logo_url, a.launch_url"
    };
}

/// A unique-name violation as the conflict it is.
fn conflict_on_name(
    res: std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error>,
    name: &str,
) -> Result<()> {
    match res {
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(Error::Conflict(format!(
            "an application named {name} (owned by another policy)"
        ))),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

impl Store {
    pub async fn create_application(&self, new: &NewApplication, now: i64) -> Result<Application> {
        let id = new_id();
        let res = sqlx::query(
            "INSERT INTO applications (id, name, description, detail_url, logo_url, launch_url, kind, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'bookmark', $7)",
        )
        .bind(&id)
        .bind(&new.name)
        .bind(&new.description)
        .bind(&new.detail_url)
        .bind(&new.logo_url)
        .bind(&new.launch_url)
        .bind(now)
        .execute(&self.pool)
        .await;
        match res {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(Error::Conflict(format!(
                    "an application named {}",
                    new.name
                )));
            }
            other => other?,
        };
        Ok(Application {
            id,
            name: new.name.clone(),
            description: new.description.clone(),
            detail_url: new.detail_url.clone(),
            logo_url: new.logo_url.clone(),
            launch_url: new.launch_url.clone(),
            kind: AppKind::Bookmark,
        })
    }

    pub async fn application_by_name(&self, name: &str) -> Result<Option<Application>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            app_columns!(),
            " FROM applications a WHERE a.name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(app_from_row))
    }

    pub async fn list_applications(&self) -> Result<Vec<Application>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            app_columns!(),
            " FROM applications a ORDER BY a.name"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(app_from_row).collect())
    }

    pub async fn assign_application(&self, app_id: &str, group_id: &str) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO application_groups (application_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(app_id)
        .bind(group_id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    pub async fn application_by_id(&self, id: &str) -> Result<Option<Application>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            app_columns!(),
            " FROM applications a WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(app_from_row))
    }

    /// A tile's fields; the name, kind and bindings stay.
    pub async fn update_application(
        &self,
        id: &str,
        description: &str,
        launch_url: &str,
        detail_url: Option<&str>,
        logo_url: Option<&str>,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE applications SET description = $2, launch_url = $3, detail_url = $4, logo_url = $5 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(description)
        .bind(launch_url)
        .bind(detail_url)
        .bind(logo_url)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    pub async fn unassign_application(&self, app_id: &str, group_id: &str) -> Result<bool> {
        let res = sqlx::query(
            "DELETE FROM application_groups WHERE application_id = $1 AND group_id = $2",
        )
        .bind(app_id)
        .bind(group_id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// The names of the groups an application is bound to, by name.
    pub async fn groups_of_application(&self, app_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT g.name FROM groups g JOIN application_groups ag ON ag.group_id = g.id \
             WHERE ag.application_id = $1 ORDER BY g.name",
        )
        .bind(app_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Stores (or replaces) an application's uploaded logo: its content
    /// type, the image in base64 and its tag.
    pub async fn put_application_logo(
        &self,
        app_id: &str,
        content_type: &str,
        data_b64: &str,
        etag: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO application_logos (application_id, content_type, data, etag, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (application_id) DO UPDATE SET \
             content_type = excluded.content_type, data = excluded.data, etag = excluded.etag, \
             updated_at = excluded.updated_at",
        )
        .bind(app_id)
        .bind(content_type)
        .bind(data_b64)
        .bind(etag)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_application_logo(&self, app_id: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM application_logos WHERE application_id = $1")
            .bind(app_id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// An uploaded logo as (content type, base64 image, tag).
    pub async fn application_logo(&self, app_id: &str) -> Result<Option<(String, String, String)>> {
        let row = sqlx::query(
            "SELECT content_type, data, etag FROM application_logos WHERE application_id = $1",
        )
        .bind(app_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.get("content_type"), r.get("data"), r.get("etag"))))
    }

    /// The applications a user may launch (through any of their groups),
    /// each with whether it is one of the user's favorites.
    pub async fn applications_for_user(&self, user_id: &str) -> Result<Vec<(Application, bool)>> {
        let rows = sqlx::query(concat!(
            "SELECT DISTINCT ", app_columns!(), ", \
               CASE WHEN EXISTS (SELECT 1 FROM favorites f WHERE f.user_id = $1 AND f.application_id = a.id) THEN 1 ELSE 0 END AS favorite \
             FROM applications a \
             WHERE a.everyone = 1 OR EXISTS ( \
               SELECT 1 FROM application_groups ag JOIN group_members m ON m.group_id = ag.group_id \
               WHERE ag.application_id = a.id AND m.user_id = $1) \
             ORDER BY a.name"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (app_from_row(r), r.get::<i64, _>("favorite") != 0))
            .collect())
    }

    /// The application if the user may launch it.
    pub async fn application_for_user(
        &self,
        user_id: &str,
        app_id: &str,
    ) -> Result<Option<Application>> {
        let row = sqlx::query(concat!(
            "SELECT DISTINCT ",
            app_columns!(),
            " FROM applications a WHERE a.id = $2 AND (a.everyone = 1 OR EXISTS ( \
               SELECT 1 FROM application_groups ag JOIN group_members m ON m.group_id = ag.group_id \
               WHERE ag.application_id = a.id AND m.user_id = $1))"
        ))
        .bind(user_id)
        .bind(app_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(app_from_row))
    }

    pub async fn set_favorite(
        &self,
        user_id: &str,
        app_id: &str,
        favorite: bool,
        now: i64,
    ) -> Result<()> {
        if favorite {
            sqlx::query(
                "INSERT INTO favorites (user_id, application_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(user_id)
            .bind(app_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        } else {
            sqlx::query("DELETE FROM favorites WHERE user_id = $1 AND application_id = $2")
                .bind(user_id)
                .bind(app_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Who may open an application: everyone signed in, or the members of
    /// these groups (names). None: no such application.
    pub async fn application_audience(&self, app_id: &str) -> Result<Option<(bool, Vec<String>)>> {
        let everyone: Option<i64> =
            sqlx::query_scalar("SELECT everyone FROM applications WHERE id = $1")
                .bind(app_id)
                .fetch_optional(&self.pool)
                .await?;
        let Some(everyone) = everyone else {
            return Ok(None);
        };
        let groups: Vec<String> = sqlx::query_scalar(
            "SELECT g.name FROM groups g JOIN application_groups ag ON ag.group_id = g.id \
             WHERE ag.application_id = $1 ORDER BY g.name",
        )
        .bind(app_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some((everyone != 0, groups)))
    }

    /// Removes the application (its group bindings, favourites and logo go
    /// with it). False when there was no such application.
    pub async fn delete_application(&self, id: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM applications WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// The policy that owns an application's group binding, if any.
    pub async fn application_policy(&self, app_id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT policy_id FROM applications WHERE id = $1")
                .bind(app_id)
                .fetch_optional(&self.pool)
                .await?
                .flatten(),
        )
    }

    /// Makes the directory say what a policy file says, in one transaction:
    /// the policy's application (found by policy id, else adopting an
    /// unowned one of the same name, else new) gets its name, description,
    /// launch URL and exactly the policy's groups. Returns its id.
    pub async fn reconcile_policy_application(
        &self,
        spec: &PolicyApplication,
        now: i64,
    ) -> Result<String> {
        let mut tx = self.pool.begin().await?;
        let mut id: Option<String> =
            sqlx::query_scalar("SELECT id FROM applications WHERE policy_id = $1")
                .bind(&spec.policy_id)
                .fetch_optional(&mut *tx)
                .await?;
        if id.is_none() {
            id = sqlx::query_scalar(
                "SELECT id FROM applications WHERE name = $1 AND policy_id IS NULL",
            )
            .bind(&spec.name)
            .fetch_optional(&mut *tx)
            .await?;
        }
        let id = match id {
            Some(id) => {
                let res = sqlx::query(
                    "UPDATE applications SET name = $1, description = $2, launch_url = $3, \
                     everyone = $4, policy_id = $5 WHERE id = $6",
                )
                .bind(&spec.name)
                .bind(&spec.description)
                .bind(&spec.launch_url)
                .bind(i64::from(spec.everyone))
                .bind(&spec.policy_id)
                .bind(&id)
                .execute(&mut *tx)
                .await;
                conflict_on_name(res, &spec.name)?;
                id
            }
            None => {
                let id = new_id();
                let res = sqlx::query(
                    "INSERT INTO applications (id, name, description, launch_url, kind, created_at, policy_id, everyone) \
                     VALUES ($1, $2, $3, $4, 'bookmark', $5, $6, $7)",
                )
                .bind(&id)
                .bind(&spec.name)
                .bind(&spec.description)
                .bind(&spec.launch_url)
                .bind(now)
                .bind(&spec.policy_id)
                .bind(i64::from(spec.everyone))
                .execute(&mut *tx)
                .await;
                conflict_on_name(res, &spec.name)?;
                id
            }
        };
        sqlx::query("DELETE FROM application_groups WHERE application_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        for name in &spec.groups {
            sqlx::query(
                "INSERT INTO groups (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            )
            .bind(new_id())
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO application_groups (application_id, group_id) \
                 SELECT $1, id FROM groups WHERE name = $2 ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Origins (scheme://host:port) of every launch URL: the only absolute
    /// targets a sign-in may return to.
    pub async fn application_origins(&self) -> Result<Vec<String>> {
        let urls: Vec<String> = sqlx::query_scalar("SELECT launch_url FROM applications")
            .fetch_all(&self.pool)
            .await?;
        Ok(urls
            .iter()
            .filter_map(|u| url::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization())
            .collect())
    }
}
