//! Queries of the OpenID Connect provider. Single use of codes and refresh
//! tokens is decided by the database (`UPDATE ... WHERE used_at IS NULL
//! RETURNING`), so two instances racing on one code cannot both win. A
//! secret is looked up first ([`Lookup`]) and spent only once the request
//! has been checked; the spend and the refresh token it yields are one
//! transaction ([`Store::redeem_code`], [`Store::rotate_refresh`]).

use sqlx::FromRow;

use super::Store;
use crate::error::Result;

#[derive(Debug, Clone, FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub private_sealed: String,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Clone, FromRow)]
pub struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_hash: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub amr: String,
    pub acr: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A code row as the exchange sees it.
#[derive(Debug, Clone, FromRow)]
pub struct CodeRow {
    pub grant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
}

/// A refresh token row as the exchange sees it.
#[derive(Debug, Clone, FromRow)]
pub struct RefreshRow {
    pub grant_id: String,
    pub expires_at: i64,
}

/// The refresh token to store with a spend, in the same transaction.
#[derive(Debug, Clone)]
pub struct NewRefresh {
    pub token_hash: String,
    pub expires_at: i64,
}

/// A code or refresh token as found before anything is spent. The exchange
/// checks the client and the binding on it first, so that a request that
/// fails them changes nothing.
#[derive(Debug)]
pub enum Lookup<T> {
    /// Unused, and its grant is live: may be spent once the request checks out.
    Unused(T),
    /// Used before: a reuse, if the request is otherwise the owner's.
    Used(T),
    /// Unused, but its grant was revoked (or is gone): worthless, and no reuse either.
    Revoked,
    Unknown,
}

/// A row found by a look-up, with what decides its [`Lookup`].
#[derive(FromRow)]
struct Found<T> {
    #[sqlx(flatten)]
    row: T,
    used_at: Option<i64>,
    /// The grant's id if it exists and is not revoked.
    live_grant: Option<String>,
}

impl<T> Found<T> {
    fn classify(found: Option<Self>) -> Lookup<T> {
        match found {
            Some(f) if f.used_at.is_some() => Lookup::Used(f.row),
            Some(f) if f.live_grant.is_some() => Lookup::Unused(f.row),
            Some(_) => Lookup::Revoked,
            None => Lookup::Unknown,
        }
    }
}

/// Why a spend found nothing to take: `(grant_id, used_at)` of the row, if any.
fn unspent(row: Option<(String, Option<i64>)>) -> Spend {
    match row {
        Some((grant_id, Some(_))) => Spend::Replayed { grant_id },
        Some((_, None)) => Spend::Revoked,
        None => Spend::Unknown,
    }
}

/// What spending a single-use secret found. The spend also requires the
/// grant to be live, in the same statement: the one caller that gets
/// `Fresh` won against every concurrent use and revocation, so of two
/// concurrent requests with one code or refresh token exactly one is served
/// (and the other's reuse detection then revokes what it was given).
#[derive(Debug)]
pub enum Spend {
    /// Spent by this call, and the new refresh token (if any) stored in the
    /// same transaction.
    Fresh,
    /// Used before (a concurrent request won): the grant it belongs to, for
    /// reuse detection.
    Replayed {
        grant_id: String,
    },
    /// Unused, but its grant was revoked: worthless, and no replay either.
    Revoked,
    Unknown,
}

/// The two kinds of single-use secret.
#[derive(Debug, Clone, Copy)]
enum Secret {
    Code,
    Refresh,
}

impl Secret {
    /// The conditional spend (returning the grant id) and the look-up that
    /// tells why a spend found nothing.
    fn queries(self) -> (&'static str, &'static str) {
        match self {
            Self::Code => (
                "UPDATE oidc_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL \
                 AND grant_id IN (SELECT id FROM oidc_grants WHERE revoked_at IS NULL) \
                 RETURNING grant_id",
                "SELECT grant_id, used_at FROM oidc_codes WHERE code_hash = $1",
            ),
            Self::Refresh => (
                "UPDATE oidc_refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
                 AND grant_id IN (SELECT id FROM oidc_grants WHERE revoked_at IS NULL) \
                 RETURNING grant_id",
                "SELECT grant_id, used_at FROM oidc_refresh_tokens WHERE token_hash = $1",
            ),
        }
    }
}

impl Store {
    pub async fn oidc_keys(&self) -> Result<Vec<SigningKeyRow>> {
        Ok(sqlx::query_as(
            "SELECT kid, alg, private_sealed, public_jwk, created_at, retired_at FROM oidc_keys \
             ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The ids of the stored keys: a cheap check for a rotation elsewhere.
    pub async fn oidc_key_ids(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT kid FROM oidc_keys ORDER BY kid")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Adds a key and retires the previous signer of the same algorithm, in one transaction.
    pub async fn add_oidc_key(&self, row: &SigningKeyRow) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE oidc_keys SET retired_at = $1 WHERE alg = $2 AND retired_at IS NULL")
            .bind(row.created_at)
            .bind(&row.alg)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oidc_keys (kid, alg, private_sealed, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.kid)
        .bind(&row.alg)
        .bind(&row.private_sealed)
        .bind(&row.public_jwk)
        .bind(row.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets keys retired before `before`: nothing they signed is still valid.
    pub async fn drop_retired_oidc_keys(&self, before: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM oidc_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Deletes what can no longer be used: expired codes, refresh tokens,
    /// grants and remembered revocations. Returns the rows removed.
    pub async fn purge_oidc(&self, now: i64) -> Result<u64> {
        let mut n = 0;
        for q in [
            "DELETE FROM oidc_codes WHERE expires_at < $1",
            "DELETE FROM oidc_refresh_tokens WHERE expires_at < $1",
            "DELETE FROM oidc_revoked_jti WHERE expires_at < $1",
            // A day later than its end, so that access tokens naming it (24h
            // at most) are not cut short by the purge.
            "DELETE FROM oidc_grants WHERE expires_at < $1 - 86400",
        ] {
            n += sqlx::query(q)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(n)
    }

    // ---- clients added by the administrator ----------------------------

    pub async fn oidc_clients(&self) -> Result<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT client_id, data FROM oidc_clients ORDER BY client_id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn oidc_client(&self, client_id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT data FROM oidc_clients WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn add_oidc_client(&self, client_id: &str, data: &str, now: i64) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO oidc_clients (client_id, data, created_at) VALUES ($1, $2, $3)",
        )
        .bind(client_id)
        .bind(data)
        .bind(now)
        .execute(&self.pool)
        .await;
        match res {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(
                crate::Error::Conflict(format!("a client with id {client_id}")),
            ),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    /// Replaces a stored client's record (an edit or a new secret). False
    /// when there is no such client.
    pub async fn update_oidc_client(&self, client_id: &str, data: &str) -> Result<bool> {
        let n = sqlx::query("UPDATE oidc_clients SET data = $1 WHERE client_id = $2")
            .bind(data)
            .bind(client_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    pub async fn remove_oidc_client(&self, client_id: &str, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM oidc_clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // A removed client's tokens die with it.
        sqlx::query(
            "UPDATE oidc_grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- grants, codes, refresh tokens ---------------------------------

    pub async fn insert_grant(&self, g: &GrantRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_grants (id, client_id, user_id, session_hash, scope, nonce, auth_time, amr, acr, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&g.id)
        .bind(&g.client_id)
        .bind(&g.user_id)
        .bind(&g.session_hash)
        .bind(&g.scope)
        .bind(&g.nonce)
        .bind(g.auth_time)
        .bind(&g.amr)
        .bind(&g.acr)
        .bind(g.created_at)
        .bind(g.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records the `claims` request (OIDC Core 5.5) a grant was made with.
    pub async fn set_grant_claims(&self, id: &str, claims: &str) -> Result<()> {
        sqlx::query("UPDATE oidc_grants SET claims = $1 WHERE id = $2")
            .bind(claims)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The `claims` request a grant was made with, if any.
    pub async fn grant_claims(&self, id: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT claims FROM oidc_grants WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(c,)| c))
    }

    pub async fn grant(&self, id: &str) -> Result<Option<GrantRow>> {
        Ok(sqlx::query_as(
            "SELECT id, client_id, user_id, session_hash, scope, nonce, auth_time, amr, acr, created_at, expires_at, revoked_at \
             FROM oidc_grants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Revokes a whole family: its refresh tokens and the access tokens that name it.
    pub async fn revoke_grant(&self, id: &str, now: i64) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE oidc_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    pub async fn insert_code(
        &self,
        code_hash: &str,
        grant_id: &str,
        client_id: &str,
        redirect_uri: &str,
        code_challenge: Option<&str>,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_codes (code_hash, grant_id, client_id, redirect_uri, code_challenge, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(code_hash)
        .bind(grant_id)
        .bind(client_id)
        .bind(redirect_uri)
        .bind(code_challenge)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The code, without spending it.
    pub async fn find_code(&self, code_hash: &str) -> Result<Lookup<CodeRow>> {
        let found: Option<Found<CodeRow>> = sqlx::query_as(
            "SELECT c.grant_id, c.client_id, c.redirect_uri, c.code_challenge, c.expires_at, \
             c.used_at, g.id AS live_grant \
             FROM oidc_codes c LEFT JOIN oidc_grants g ON g.id = c.grant_id AND g.revoked_at IS NULL \
             WHERE c.code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(Found::classify(found))
    }

    /// Redeems a code: marks it used and stores the first refresh token of
    /// its grant, in one transaction. Either both happen or neither does.
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        now: i64,
        refresh: Option<&NewRefresh>,
    ) -> Result<Spend> {
        self.spend_and_store(Secret::Code, code_hash, now, refresh)
            .await
    }

    /// Stores a refresh token on its own. The token endpoint stores them
    /// with the spend that yields them ([`Store::redeem_code`],
    /// [`Store::rotate_refresh`]); this is for tools and tests.
    pub async fn insert_refresh(
        &self,
        token_hash: &str,
        grant_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(grant_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The refresh token, without spending it.
    pub async fn find_refresh(&self, token_hash: &str) -> Result<Lookup<RefreshRow>> {
        let found: Option<Found<RefreshRow>> = sqlx::query_as(
            "SELECT r.grant_id, r.expires_at, r.used_at, g.id AS live_grant \
             FROM oidc_refresh_tokens r LEFT JOIN oidc_grants g ON g.id = r.grant_id AND g.revoked_at IS NULL \
             WHERE r.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(Found::classify(found))
    }

    /// Rotates a refresh token: marks the old one used and stores its
    /// successor, in one transaction. A process that dies half-way leaves
    /// the old token unspent, never spent without a successor.
    pub async fn rotate_refresh(
        &self,
        old_hash: &str,
        now: i64,
        new: Option<&NewRefresh>,
    ) -> Result<Spend> {
        self.spend_and_store(Secret::Refresh, old_hash, now, new)
            .await
    }

    /// Marks the row of a single-use secret used (if unused and its grant is
    /// live) and inserts the new refresh token for the same grant, in one
    /// transaction. On any error the transaction is rolled back: nothing was
    /// spent.
    async fn spend_and_store(
        &self,
        kind: Secret,
        hash: &str,
        now: i64,
        refresh: Option<&NewRefresh>,
    ) -> Result<Spend> {
        let (spend, lookup) = kind.queries();
        let mut tx = self.pool.begin().await?;
        let grant_id: Option<String> = sqlx::query_scalar(spend)
            .bind(now)
            .bind(hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(grant_id) = grant_id else {
            tx.rollback().await?;
            let row: Option<(String, Option<i64>)> = sqlx::query_as(lookup)
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
            return Ok(unspent(row));
        };
        if let Some(r) = refresh {
            let parent = matches!(kind, Secret::Refresh).then_some(hash);
            insert_refresh(&mut tx, r, &grant_id, parent, now).await?;
        }
        tx.commit().await?;
        Ok(Spend::Fresh)
    }

    /// The grace for a rotation whose answer was lost: `old_hash` was spent
    /// at `spent_after` or later, has not had this grace before, and its
    /// successor was never used. Then, in one transaction, that successor
    /// is dropped and `new` takes its place. False, changing nothing, when
    /// any of that does not hold (the caller treats the use as a reuse).
    pub async fn reissue_refresh(
        &self,
        old_hash: &str,
        spent_after: i64,
        now: i64,
        new: &NewRefresh,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let grant_id: Option<String> = sqlx::query_scalar(
            "UPDATE oidc_refresh_tokens SET reissued_at = $1 WHERE token_hash = $2 \
             AND used_at IS NOT NULL AND used_at >= $3 AND reissued_at IS NULL AND expires_at > $1 \
             AND grant_id IN (SELECT id FROM oidc_grants WHERE revoked_at IS NULL) \
             RETURNING grant_id",
        )
        .bind(now)
        .bind(old_hash)
        .bind(spent_after)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(grant_id) = grant_id else {
            tx.rollback().await?;
            return Ok(false);
        };
        let dropped = sqlx::query(
            "DELETE FROM oidc_refresh_tokens WHERE parent_hash = $1 AND used_at IS NULL",
        )
        .bind(old_hash)
        .execute(&mut *tx)
        .await?;
        if dropped.rows_affected() != 1 {
            // The successor was used: the client had it, so this is a reuse.
            tx.rollback().await?;
            return Ok(false);
        }
        insert_refresh(&mut tx, new, &grant_id, Some(old_hash), now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The refresh token's grant, if the token is live (for introspection and revocation).
    pub async fn refresh_token_grant(&self, token_hash: &str, now: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT grant_id FROM oidc_refresh_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_revoked_jti (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn jti_revoked(&self, jti: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_revoked_jti WHERE jti = $1")
            .bind(jti)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }
}

/// Stores a refresh token of `grant_id`, naming the token it replaces.
async fn insert_refresh(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    r: &NewRefresh,
    grant_id: &str,
    parent: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_refresh_tokens (token_hash, grant_id, created_at, expires_at, parent_hash) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&r.token_hash)
    .bind(grant_id)
    .bind(now)
    .bind(r.expires_at)
    .bind(parent)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
