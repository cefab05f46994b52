use sqlx::Row;

use super::{Store, new_id};
use crate::directory::Group;
use crate::error::{Error, Result};

impl Store {
    pub async fn create_group(&self, name: &str, now: i64) -> Result<Group> {
        let id = new_id();
        let res = sqlx::query("INSERT INTO groups (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await;
        match res {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                Err(Error::Conflict(format!("a group named {name}")))
            }
            Err(e) => Err(e.into()),
            Ok(_) => Ok(Group {
                id,
                name: name.to_string(),
            }),
        }
    }

    pub async fn group_by_name(&self, name: &str) -> Result<Option<Group>> {
        let row = sqlx::query("SELECT id, name FROM groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Group {
            id: r.get("id"),
            name: r.get("name"),
        }))
    }

    pub async fn list_groups(&self) -> Result<Vec<(Group, i64)>> {
        let rows = sqlx::query(
            "SELECT g.id, g.name, (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id) AS members \
             FROM groups g ORDER BY g.name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    Group {
                        id: r.get("id"),
                        name: r.get("name"),
                    },
                    r.get("members"),
                )
            })
            .collect())
    }

    /// Returns false when the user already was a member.
    pub async fn add_member(&self, group_id: &str, user_id: &str) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(group_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        let added = res.rows_affected() > 0;
        if added {
            self.touch_group(group_id).await?;
        }
        Ok(added)
    }

    /// Marks the group as changed now (its members are part of it).
    async fn touch_group(&self, group_id: &str) -> Result<()> {
        sqlx::query("UPDATE groups SET modified_at = $1 WHERE id = $2")
            .bind(crate::clock::now())
            .bind(group_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn remove_member(&self, group_id: &str, user_id: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        let removed = res.rows_affected() > 0;
        if removed {
            self.touch_group(group_id).await?;
        }
        Ok(removed)
    }

    pub async fn groups_of(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// Removes the group (its memberships and application bindings go with
    /// it). False when there was no such group.
    pub async fn delete_group(&self, id: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// How many members the group has.
    pub async fn member_count(&self, group_id: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM group_members WHERE group_id = $1")
                .bind(group_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The names of the applications the group's members see.
    pub async fn applications_of_group(&self, group_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT a.name FROM applications a JOIN application_groups ag ON ag.application_id = a.id \
             WHERE ag.group_id = $1 ORDER BY a.name",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
