//! The demo data of a new database, written in one transaction: either all
//! of it lands (and the generated password can be shown), or none of it,
//! and the next start seeds again.

use super::{NewApplication, NewUser, Store, new_id, next_seq, unique_violation};
use crate::directory::Profile;
use crate::error::{Error, Result};

/// What a new database gets: one user in one group, and that group's tiles.
#[derive(Debug)]
pub struct DemoSeed<'a> {
    pub user: &'a NewUser,
    pub profile: &'a Profile,
    pub group: &'a str,
    pub apps: &'a [NewApplication],
}

impl Store {
    /// Seeds when the database has no user yet; returns the new user's id,
    /// or None when there was a user already (another instance sharing the
    /// database seeded first). A group or application of the same name
    /// that already exists (an administrator's, or a gateway policy's) is
    /// used as it is: the demo user joins that group, and a demo tile that
    /// would collide is left out.
    pub async fn seed_demo(&self, seed: &DemoSeed<'_>, now: i64) -> Result<Option<String>> {
        let mut tx = self.pool.begin().await?;
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        if users > 0 {
            return Ok(None);
        }
        let id = new_id();
        let profile =
            serde_json::to_string(seed.profile).map_err(|e| Error::Corrupt(e.to_string()))?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, first_name, last_name, username, profile, password_hash, \
             password_changed_at, created_at, admin_role, search) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&id)
        .bind(&seed.user.email)
        .bind(&seed.user.first_name)
        .bind(&seed.user.last_name)
        .bind(&seed.user.username)
        .bind(&profile)
        .bind(&seed.user.password_hash)
        .bind(seed.user.password_hash.as_ref().map(|_| now))
        .bind(now)
        .bind(seed.user.admin_role.map(|r| r.as_str()))
        .bind(super::users::search_text(
            &seed.user.email,
            &seed.user.first_name,
            &seed.user.last_name,
            &seed.user.username,
        ))
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if unique_violation(&e) => return Ok(None),
            other => other?,
        };
        if let Some(hash) = &seed.user.password_hash {
            sqlx::query(
                "INSERT INTO password_history (user_id, password_hash, changed_at, seq) VALUES ($1, $2, $3, $4)",
            )
            .bind(&id)
            .bind(hash)
            .bind(now)
            .bind(next_seq())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO groups (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id())
        .bind(seed.group)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let group: String = sqlx::query_scalar("SELECT id FROM groups WHERE name = $1")
            .bind(seed.group)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
            .bind(&group)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        for app in seed.apps {
            let app_id = new_id();
            let added = sqlx::query(
                "INSERT INTO applications (id, name, description, detail_url, logo_url, launch_url, kind, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'bookmark', $7) ON CONFLICT (name) DO NOTHING",
            )
            .bind(&app_id)
            .bind(&app.name)
            .bind(&app.description)
            .bind(&app.detail_url)
            .bind(&app.logo_url)
            .bind(&app.launch_url)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if added.rows_affected() == 1 {
                sqlx::query(
                    "INSERT INTO application_groups (application_id, group_id) VALUES ($1, $2)",
                )
                .bind(&app_id)
                .bind(&group)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Some(id))
    }
}
