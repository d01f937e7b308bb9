//! Authorization codes, refresh tokens and issued access tokens. A code or refresh token
//! is read and marked in one write transaction, so a second use is always seen; the
//! verdict is `textid_core::grant`'s, and a reuse revokes the whole family.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use textid_core::grant::{code_verdict, refresh_verdict, StoredUse, UseVerdict};
use textid_core::{SessionId, UserId};

use super::rows::{json, ms, to_json};
use super::SqliteStore;
use crate::{Admit, GrantRecord, Redemption, StoreError, StoreResult, TokenStore};

fn insert_code(
    tx: &Transaction<'_>,
    hash: &[u8],
    g: &GrantRecord,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    // One write transaction at a time (SQLite): a revocation either committed before
    // this check (the session is revoked: refused) or runs after this insert (and finds
    // the code among the user's, revoking its family).
    if let Some(sid) = g.session_id {
        let live = tx
            .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1 AND revoked_at IS NULL")?
            .exists([sid.to_string()])?;
        if !live {
            return Err(StoreError::Conflict("session_revoked".into()));
        }
    }
    tx.prepare_cached("INSERT INTO oauth_codes (code_hash, tenant_id, client_id, grant_doc, expires_at, user_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![hash, g.tenant_id.to_string(), g.client_id, to_json(g), ms(expires_at), g.user_id.map(|u| u.to_string())])?;
    Ok(())
}

fn family_revoked(c: &Connection, family: &str) -> StoreResult<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM revoked_families WHERE family_id = ?1")?
            .exists([family])?,
    )
}

fn refuse_revoked(tx: &Transaction<'_>, family: &str) -> StoreResult<()> {
    if family_revoked(tx, family)? {
        return Err(StoreError::Conflict("family_revoked".into()));
    }
    Ok(())
}

fn revoke_family(tx: &Transaction<'_>, family: &str, now: DateTime<Utc>) -> StoreResult<()> {
    tx.execute(
        "INSERT OR IGNORE INTO revoked_families (family_id, revoked_at) VALUES (?1, ?2)",
        params![family, ms(now)],
    )?;
    tx.execute(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
        params![family, ms(now)],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO revoked_access_tokens (jti, family_id, expires_at)
         SELECT jti, family_id, expires_at FROM issued_access_tokens WHERE family_id = ?1",
        [family],
    )?;
    Ok(())
}

/// Writes a verdict on a code (`table` oauth_codes) or refresh token (refresh_tokens).
fn apply(
    tx: &Transaction<'_>,
    table: &str,
    hash: &[u8],
    grant: GrantRecord,
    verdict: UseVerdict,
    now: DateTime<Utc>,
) -> StoreResult<Redemption> {
    let mark = |tx: &Transaction<'_>| -> StoreResult<()> {
        let sql = if table == "oauth_codes" {
            "UPDATE oauth_codes SET used_at = ?2 WHERE code_hash = ?1"
        } else {
            "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1"
        };
        tx.prepare_cached(sql)?.execute(params![hash, ms(now)])?;
        Ok(())
    };
    Ok(match verdict {
        UseVerdict::Redeem => {
            mark(tx)?;
            Redemption::Redeemed(grant)
        }
        UseVerdict::RevokeFamily => {
            revoke_family(tx, &grant.family_id, now)?;
            Redemption::Reused
        }
        UseVerdict::Refuse { mark_used } => {
            if mark_used {
                mark(tx)?;
            }
            Redemption::Invalid
        }
        UseVerdict::SessionEnded => {
            mark(tx)?;
            Redemption::SessionEnded
        }
    })
}

/// Whether the browser session `sid` is live at `now` (a purged or deleted one is not).
fn session_live(tx: &Transaction<'_>, sid: SessionId, now: DateTime<Utc>) -> StoreResult<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM sessions WHERE id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
        )?
        .exists(params![sid.to_string(), ms(now)])?)
}

fn redeem_code(
    tx: &Transaction<'_>,
    hash: &[u8],
    client_id: &str,
    now: DateTime<Utc>,
    admit: &Admit,
) -> StoreResult<Redemption> {
    let row = tx
        .prepare_cached(
            "SELECT grant_doc, expires_at, used_at FROM oauth_codes WHERE code_hash = ?1",
        )?
        .query_row([hash], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })
        .optional()?;
    let Some((doc, expires, used)) = row else {
        return Ok(Redemption::Invalid);
    };
    let grant: GrantRecord = json(&doc)?;
    // Issue #19: the session is read in this write transaction, so a sign-out either
    // committed before (the code is refused) or runs after the redemption.
    let session_ended = match grant.session_id {
        Some(sid) => !session_live(tx, sid, now)?,
        None => false,
    };
    let verdict = code_verdict(StoredUse {
        same_client: grant.client_id == client_id,
        used: used.is_some(),
        revoked: family_revoked(tx, &grant.family_id)?,
        expired: expires <= ms(now),
        session_ended,
    });
    let redemption = apply(tx, "oauth_codes", hash, grant, verdict, now)?;
    if let Redemption::Redeemed(grant) = &redemption {
        if let Some(a) = admit(grant) {
            record_access_token(
                tx,
                &a.jti,
                &grant.family_id,
                a.user,
                a.session,
                a.expires_at,
            )?;
        }
    }
    Ok(redemption)
}

fn insert_refresh_token(
    tx: &Transaction<'_>,
    hash: &[u8],
    g: &GrantRecord,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    refuse_revoked(tx, &g.family_id)?;
    tx.prepare_cached(
        "INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, client_id, grant_doc, created_at, expires_at, user_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![hash, g.family_id, g.tenant_id.to_string(), g.client_id, to_json(g), ms(now), ms(expires_at), g.user_id.map(|u| u.to_string())])?;
    Ok(())
}

fn use_refresh_token(
    tx: &Transaction<'_>,
    hash: &[u8],
    client_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Redemption> {
    let row = tx
        .prepare_cached("SELECT grant_doc, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = ?1")?
        .query_row([hash], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<i64>>(2)?, r.get::<_, Option<i64>>(3)?))
        })
        .optional()?;
    let Some((doc, expires, used, revoked)) = row else {
        return Ok(Redemption::Invalid);
    };
    let grant: GrantRecord = json(&doc)?;
    let verdict = refresh_verdict(StoredUse {
        same_client: grant.client_id == client_id,
        used: used.is_some(),
        revoked: revoked.is_some() || family_revoked(tx, &grant.family_id)?,
        expired: expires <= ms(now),
        session_ended: false,
    });
    apply(tx, "refresh_tokens", hash, grant, verdict, now)
}

fn revoke_refresh_token(
    tx: &Transaction<'_>,
    hash: &[u8],
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let family: Option<String> = tx
        .query_row(
            "SELECT family_id FROM refresh_tokens WHERE token_hash = ?1",
            [hash],
            |r| r.get(0),
        )
        .optional()?;
    match family {
        Some(f) => {
            revoke_family(tx, &f, now)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn record_access_token(
    tx: &Transaction<'_>,
    jti: &str,
    family: &str,
    user: Option<UserId>,
    session: Option<SessionId>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    refuse_revoked(tx, family)?;
    // A sign-out that committed between the code's redemption and this record has
    // already revoked the session's tokens: this one must not outlive it.
    if let Some(sid) = session {
        let live = tx
            .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1 AND revoked_at IS NULL")?
            .exists([sid.to_string()])?;
        if !live {
            return Err(StoreError::Conflict("session_revoked".into()));
        }
    }
    tx.prepare_cached(
        "INSERT INTO issued_access_tokens (jti, family_id, expires_at, user_id, session_id) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        jti,
        family,
        ms(expires_at),
        user.map(|u| u.to_string()),
        session.map(|s| s.to_string())
    ])?;
    Ok(())
}

fn revoke_access_token(
    tx: &Transaction<'_>,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO revoked_access_tokens (jti, expires_at) VALUES (?1, ?2)",
    )?
    .execute(params![jti, ms(expires_at)])?;
    Ok(())
}

fn access_token_revoked(c: &Connection, jti: &str) -> StoreResult<bool> {
    Ok(
        c.prepare_cached(
            "SELECT 1 FROM revoked_access_tokens WHERE jti = ?1
             UNION ALL
             SELECT 1 FROM issued_access_tokens i JOIN revoked_families f ON f.family_id = i.family_id WHERE i.jti = ?1",
        )?
        .exists([jti])?,
    )
}

fn refresh_token_client(c: &Connection, hash: &[u8]) -> StoreResult<Option<String>> {
    Ok(
        c.prepare_cached("SELECT client_id FROM refresh_tokens WHERE token_hash = ?1")?
            .query_row([hash], |r| r.get(0))
            .optional()?,
    )
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn insert_code(
        &self,
        code_hash: &[u8],
        grant: &GrantRecord,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (hash, grant) = (code_hash.to_vec(), grant.clone());
        self.write(move |tx| insert_code(tx, &hash, &grant, expires_at))
            .await
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8],
        client_id: &str,
        now: DateTime<Utc>,
        admit: Admit,
    ) -> StoreResult<Redemption> {
        let (hash, client) = (code_hash.to_vec(), client_id.to_string());
        self.write(move |tx| redeem_code(tx, &hash, &client, now, &admit))
            .await
    }

    async fn insert_refresh_token(
        &self,
        token_hash: &[u8],
        grant: &GrantRecord,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (hash, grant) = (token_hash.to_vec(), grant.clone());
        self.write(move |tx| insert_refresh_token(tx, &hash, &grant, now, expires_at))
            .await
    }

    async fn use_refresh_token(
        &self,
        token_hash: &[u8],
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Redemption> {
        let (hash, client) = (token_hash.to_vec(), client_id.to_string());
        self.write(move |tx| use_refresh_token(tx, &hash, &client, now))
            .await
    }

    async fn refresh_token_client(&self, token_hash: &[u8]) -> StoreResult<Option<String>> {
        let hash = token_hash.to_vec();
        self.lookup(move |c| refresh_token_client(c, &hash)).await
    }

    async fn revoke_refresh_token(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let hash = token_hash.to_vec();
        self.write(move |tx| revoke_refresh_token(tx, &hash, now))
            .await
    }

    async fn record_access_token(
        &self,
        jti: &str,
        family_id: &str,
        user: Option<UserId>,
        session: Option<SessionId>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (jti, family) = (jti.to_string(), family_id.to_string());
        self.write(move |tx| record_access_token(tx, &jti, &family, user, session, expires_at))
            .await
    }

    async fn revoke_access_token(&self, jti: &str, expires_at: DateTime<Utc>) -> StoreResult<()> {
        let jti = jti.to_string();
        self.write(move |tx| revoke_access_token(tx, &jti, expires_at))
            .await
    }

    async fn access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let jti = jti.to_string();
        self.lookup(move |c| access_token_revoked(c, &jti)).await
    }
}
