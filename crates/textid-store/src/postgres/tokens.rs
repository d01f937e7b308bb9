//! Authorization codes, refresh tokens and issued access tokens, used once.
//!
//! Locks: every operation that revokes a family or saves a token of one first takes the
//! family's advisory lock (`locks::family`), then (for a redemption) the code or token row
//! `FOR UPDATE`. So two redemptions of one code queue on its row and the second sees it
//! used (the verdict is `textid_core::grant`'s: a reuse revokes the family); and a token
//! saved while its family is revoked either commits first (and is revoked with the rest)
//! or sees the revocation (`Conflict("family_revoked")`). The family of a code or token
//! never changes, so it is read without a lock to know which lock to take. A code's
//! browser session (and the session an access token is bound to) is locked `FOR SHARE`
//! before the family, in the order of a user-wide revocation (sessions, then families).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use textid_core::grant::{code_verdict, refresh_verdict, StoredUse, UseVerdict};
use textid_core::{SessionId, UserId};

use super::retry::{Replay, Tx};
use super::rows::{execute, json, ms, query_opt, to_json};
use super::{locks, PostgresStore};
use crate::{Admit, GrantRecord, Redemption, StoreError, StoreResult, TokenStore};

/// Which single-use secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Code,
    Refresh,
}

async fn family_revoked<C: GenericClient>(c: &C, family: &str) -> StoreResult<bool> {
    Ok(query_opt(
        c,
        "SELECT 1 FROM revoked_families WHERE family_id = $1",
        &[&family],
    )
    .await?
    .is_some())
}

/// Takes the family's lock and refuses a revoked family.
async fn lock_live_family(tx: &Tx<'_>, family: &str) -> StoreResult<()> {
    locks::family(tx, family).await?;
    if family_revoked(tx, family).await? {
        return Err(StoreError::Conflict("family_revoked".into()));
    }
    Ok(())
}

/// Revokes a family; the caller holds its lock.
pub(super) async fn revoke_family(
    tx: &Tx<'_>,
    family: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO revoked_families (family_id, revoked_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&family, &ms(now)],
    )
    .await?;
    execute(
        tx,
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        &[&family, &ms(now)],
    )
    .await?;
    execute(
        tx,
        "INSERT INTO revoked_access_tokens (jti, family_id, expires_at)
         SELECT jti, family_id, expires_at FROM issued_access_tokens WHERE family_id = $1
         ON CONFLICT DO NOTHING",
        &[&family],
    )
    .await?;
    Ok(())
}

/// Redeems a code or rotates a refresh token: lock the family, lock the row, ask the
/// verdict, write it.
async fn redeem(
    tx: &Tx<'_>,
    kind: Kind,
    hash: &[u8],
    client_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Redemption> {
    let (peek, locked, mark) = match kind {
        Kind::Code => (
            "SELECT grant_doc FROM oauth_codes WHERE code_hash = $1",
            "SELECT grant_doc, expires_at, used_at, NULL::bigint FROM oauth_codes WHERE code_hash = $1 FOR UPDATE",
            "UPDATE oauth_codes SET used_at = $2 WHERE code_hash = $1",
        ),
        Kind::Refresh => (
            "SELECT grant_doc FROM refresh_tokens WHERE token_hash = $1",
            "SELECT grant_doc, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1",
        ),
    };
    let Some(row) = query_opt(tx, peek, &[&hash]).await? else {
        return Ok(Redemption::Invalid);
    };
    let peeked = json::<GrantRecord>(row.try_get(0)?)?;
    // Issue #19: a code's browser session must still be live. Its row is locked
    // `FOR SHARE` before the family (the order of `sessions::revoke_user`, which updates
    // the sessions and then takes the families' locks): a concurrent sign-out either waits
    // for this redemption, or this read waits for the sign-out and sees the session ended.
    let session_ended = match (kind, peeked.session_id) {
        (Kind::Code, Some(sid)) => query_opt(
            tx,
            "SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 FOR SHARE",
            &[&sid.0, &ms(now)],
        )
        .await?
        .is_none(),
        _ => false,
    };
    locks::family(tx, &peeked.family_id).await?;
    let Some(row) = query_opt(tx, locked, &[&hash]).await? else {
        return Ok(Redemption::Invalid);
    };
    let grant: GrantRecord = json(row.try_get(0)?)?;
    let (expires, used, revoked): (i64, Option<i64>, Option<i64>) =
        (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
    let facts = StoredUse {
        same_client: grant.client_id == client_id,
        used: used.is_some(),
        revoked: revoked.is_some() || family_revoked(tx, &grant.family_id).await?,
        expired: expires <= ms(now),
        session_ended,
    };
    let verdict = match kind {
        Kind::Code => code_verdict(facts),
        Kind::Refresh => refresh_verdict(facts),
    };
    Ok(match verdict {
        UseVerdict::Redeem => {
            execute(tx, mark, &[&hash, &ms(now)]).await?;
            Redemption::Redeemed(grant)
        }
        UseVerdict::RevokeFamily => {
            revoke_family(tx, &grant.family_id, now).await?;
            Redemption::Reused
        }
        UseVerdict::Refuse { mark_used } => {
            if mark_used {
                execute(tx, mark, &[&hash, &ms(now)]).await?;
            }
            Redemption::Invalid
        }
        UseVerdict::SessionEnded => {
            execute(tx, mark, &[&hash, &ms(now)]).await?;
            Redemption::SessionEnded
        }
    })
}

async fn insert_refresh(
    tx: &Tx<'_>,
    hash: &[u8],
    g: &GrantRecord,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    lock_live_family(tx, &g.family_id).await?;
    execute(
        tx,
        "INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, client_id, grant_doc, created_at, expires_at, user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[&hash, &g.family_id, &g.tenant_id.0, &g.client_id, &to_json(g), &ms(now), &ms(expires_at), &g.user_id.map(|u| u.0)],
    )
    .await?;
    Ok(())
}

async fn revoke_refresh(tx: &Tx<'_>, hash: &[u8], now: DateTime<Utc>) -> StoreResult<bool> {
    let Some(row) = query_opt(
        tx,
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1",
        &[&hash],
    )
    .await?
    else {
        return Ok(false);
    };
    let family: String = row.try_get(0)?;
    locks::family(tx, &family).await?;
    revoke_family(tx, &family, now).await?;
    Ok(true)
}

async fn record_access(
    tx: &Tx<'_>,
    jti: &str,
    family: &str,
    user: Option<UserId>,
    session: Option<SessionId>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    // A sign-out that committed between the code's redemption and this record has already
    // revoked the session's tokens: refuse. `FOR SHARE` (before the family's lock, the
    // order of `sessions::revoke_user`): a sign-out now waits for this insert and then
    // revokes the token with the session's others.
    if let Some(sid) = session {
        let live = query_opt(
            tx,
            "SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL FOR SHARE",
            &[&sid.0],
        )
        .await?;
        if live.is_none() {
            return Err(StoreError::Conflict("session_revoked".into()));
        }
    }
    lock_live_family(tx, family).await?;
    execute(
        tx,
        "INSERT INTO issued_access_tokens (jti, family_id, expires_at, user_id, session_id) VALUES ($1, $2, $3, $4, $5)",
        &[&jti, &family, &ms(expires_at), &user.map(|u| u.0), &session.map(|s| s.0)],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn insert_code(
        &self,
        code_hash: &[u8],
        grant: &GrantRecord,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(code_hash, grant, expires_at), |tx, (h, g, exp)| {
            Box::pin(async move {
                // FOR SHARE holds the session row until commit: a concurrent revocation
                // (`UPDATE sessions SET revoked_at`) waits for this insert and then finds
                // the code among the user's, or committed first and this read (re-checked
                // on the new row version) finds the session revoked.
                if let Some(sid) = g.session_id {
                    let live = query_opt(
                        tx,
                        "SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL FOR SHARE",
                        &[&sid.0],
                    )
                    .await?;
                    if live.is_none() {
                        return Err(StoreError::Conflict("session_revoked".into()));
                    }
                }
                execute(
                    tx,
                    "INSERT INTO oauth_codes (code_hash, tenant_id, client_id, grant_doc, expires_at, user_id) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[h, &g.tenant_id.0, &g.client_id, &to_json(g), &ms(*exp), &g.user_id.map(|u| u.0)],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8],
        client_id: &str,
        now: DateTime<Utc>,
        admit: Admit,
    ) -> StoreResult<Redemption> {
        self.write(
            Replay::Unsafe,
            &(code_hash, client_id, now, admit),
            |tx, (h, c, now, admit)| {
                Box::pin(async move {
                    let redemption = redeem(tx, Kind::Code, h, c, *now).await?;
                    if let Redemption::Redeemed(g) = &redemption {
                        if let Some(a) = admit(g) {
                            record_access(
                                tx,
                                &a.jti,
                                &g.family_id,
                                a.user,
                                a.session,
                                a.expires_at,
                            )
                            .await?;
                        }
                    }
                    Ok(redemption)
                })
            },
        )
        .await
    }

    async fn insert_refresh_token(
        &self,
        token_hash: &[u8],
        grant: &GrantRecord,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let env = (token_hash, grant, now, expires_at);
        self.write(Replay::Unsafe, &env, |tx, (h, g, now, exp)| {
            Box::pin(insert_refresh(tx, h, g, *now, *exp))
        })
        .await
    }

    async fn use_refresh_token(
        &self,
        token_hash: &[u8],
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Redemption> {
        self.write(
            Replay::Unsafe,
            &(token_hash, client_id, now),
            |tx, (h, c, now)| Box::pin(redeem(tx, Kind::Refresh, h, c, *now)),
        )
        .await
    }

    async fn refresh_token_client(&self, token_hash: &[u8]) -> StoreResult<Option<String>> {
        self.read(token_hash, |c, h| {
            Box::pin(async move {
                query_opt(
                    c,
                    "SELECT client_id FROM refresh_tokens WHERE token_hash = $1",
                    &[&h],
                )
                .await?
                .map(|r| Ok(r.try_get(0)?))
                .transpose()
            })
        })
        .await
    }

    async fn revoke_refresh_token(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(Replay::Safe, &(token_hash, now), |tx, (h, now)| {
            Box::pin(revoke_refresh(tx, h, *now))
        })
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
        self.write(
            Replay::Unsafe,
            &(jti, family_id, user, session, expires_at),
            |tx, (j, f, u, s, exp)| Box::pin(record_access(tx, j, f, *u, *s, *exp)),
        )
        .await
    }

    async fn revoke_access_token(&self, jti: &str, expires_at: DateTime<Utc>) -> StoreResult<()> {
        self.write(Replay::Safe, &(jti, expires_at), |tx, (j, exp)| {
            Box::pin(async move {
                execute(
                    tx,
                    "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[j, &ms(*exp)],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        self.read(jti, |c, j| {
            Box::pin(async move {
                Ok(query_opt(
                    c,
                    "SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1)
                         OR EXISTS (SELECT 1 FROM issued_access_tokens i JOIN revoked_families f ON f.family_id = i.family_id
                                    WHERE i.jti = $1)",
                    &[&j],
                )
                .await?
                .map(|r| r.try_get::<_, bool>(0))
                .transpose()?
                .unwrap_or(false))
            })
        })
        .await
    }
}
