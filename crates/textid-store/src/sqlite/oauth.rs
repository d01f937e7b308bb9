//! OpenID Connect rows. Codes and refresh tokens are used with a conditional update in a
//! write transaction, so a second use is always seen; it revokes the whole family.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use textid_core::{FlowId, SessionId, TenantId};

use super::rows::{id, json, ms, opt_id, time, to_json};
use crate::{ClientRecord, GrantRecord, Redemption, SigningKeyRecord, StoreResult};

pub(super) fn signing_keys(c: &Connection) -> StoreResult<Vec<SigningKeyRecord>> {
    let mut stmt = c.prepare_cached("SELECT kid, alg, sealed, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid")?;
    let rows = stmt.query_map([], |r| {
        Ok(SigningKeyRecord {
            kid: r.get(0)?,
            alg: r.get(1)?,
            sealed: r.get(2)?,
            created_at: time(r.get(3)?),
            retired_at: r.get::<_, Option<i64>>(4)?.map(time),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn add_signing_key(
    tx: &Transaction<'_>,
    k: &SigningKeyRecord,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL AND alg = ?2",
        params![ms(now), k.alg],
    )?;
    tx.execute(
        "INSERT INTO signing_keys (kid, alg, sealed, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![k.kid, k.alg, k.sealed, ms(k.created_at)],
    )?;
    Ok(())
}

pub(super) fn create_client(
    tx: &Transaction<'_>,
    c: &ClientRecord,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO oauth_clients (tenant_id, client_id, document, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![c.tenant_id.to_string(), c.client_id, c.document.to_string(), c.secret_hash, ms(now)],
    )?;
    Ok(())
}

pub(super) fn update_client(tx: &Transaction<'_>, c: &ClientRecord) -> StoreResult<()> {
    let n = tx.execute(
        "UPDATE oauth_clients SET document = ?3, secret_hash = ?4 WHERE tenant_id = ?1 AND client_id = ?2",
        params![c.tenant_id.to_string(), c.client_id, c.document.to_string(), c.secret_hash],
    )?;
    if n == 0 {
        return Err(crate::StoreError::NotFound("client"));
    }
    Ok(())
}

fn client_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, Option<String>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_client(
    (tid, cid, doc, hash): (String, String, String, Option<String>),
) -> StoreResult<ClientRecord> {
    Ok(ClientRecord {
        tenant_id: id(&tid)?,
        client_id: cid,
        document: json(&doc)?,
        secret_hash: hash,
    })
}

pub(super) fn client(
    c: &Connection,
    tenant: TenantId,
    client_id: &str,
) -> StoreResult<Option<ClientRecord>> {
    c.prepare_cached("SELECT tenant_id, client_id, document, secret_hash FROM oauth_clients WHERE tenant_id = ?1 AND client_id = ?2")?
        .query_row(params![tenant.to_string(), client_id], client_row)
        .optional()?
        .map(to_client)
        .transpose()
}

pub(super) fn list_clients(c: &Connection, tenant: TenantId) -> StoreResult<Vec<ClientRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT tenant_id, client_id, document, secret_hash FROM oauth_clients WHERE tenant_id = ?1 ORDER BY created_at, client_id",
    )?;
    let rows = stmt.query_map([tenant.to_string()], client_row)?;
    rows.map(|r| to_client(r?)).collect()
}

pub(super) fn put_auth_request(
    tx: &Transaction<'_>,
    rid: &str,
    tenant: TenantId,
    doc: &serde_json::Value,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO auth_requests (id, tenant_id, document, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![rid, tenant.to_string(), doc.to_string(), ms(now), ms(expires_at)])?;
    Ok(())
}

pub(super) fn auth_request(
    c: &Connection,
    rid: &str,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> StoreResult<Option<(serde_json::Value, Option<FlowId>)>> {
    let row = c
        .prepare_cached("SELECT document, flow_id FROM auth_requests WHERE id = ?1 AND tenant_id = ?2 AND expires_at > ?3")?
        .query_row(params![rid, tenant.to_string(), ms(now)], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))
        .optional()?;
    row.map(|(doc, flow)| Ok((json(&doc)?, opt_id(flow)?)))
        .transpose()
}

pub(super) fn set_auth_request_flow(
    tx: &Transaction<'_>,
    rid: &str,
    flow: Option<FlowId>,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE auth_requests SET flow_id = ?2 WHERE id = ?1",
        params![rid, flow.map(|f| f.to_string())],
    )?;
    Ok(())
}

pub(super) fn delete_auth_request(tx: &Transaction<'_>, rid: &str) -> StoreResult<()> {
    tx.execute("DELETE FROM auth_requests WHERE id = ?1", [rid])?;
    Ok(())
}

pub(super) fn insert_code(
    tx: &Transaction<'_>,
    hash: &[u8],
    g: &GrantRecord,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    tx.prepare_cached("INSERT INTO oauth_codes (code_hash, tenant_id, client_id, grant_doc, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![hash, g.tenant_id.to_string(), g.client_id, to_json(g), ms(expires_at)])?;
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
        return Err(crate::StoreError::Conflict("family_revoked".into()));
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

pub(super) fn redeem_code(
    tx: &Transaction<'_>,
    hash: &[u8],
    client_id: &str,
    now: DateTime<Utc>,
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
    if grant.client_id != client_id {
        return Ok(Redemption::Invalid);
    }
    if used.is_some() {
        // RFC 6749 §4.1.2: a code used twice revokes what it issued.
        revoke_family(tx, &grant.family_id, now)?;
        return Ok(Redemption::Reused);
    }
    tx.execute(
        "UPDATE oauth_codes SET used_at = ?2 WHERE code_hash = ?1",
        params![hash, ms(now)],
    )?;
    if expires <= ms(now) {
        return Ok(Redemption::Invalid);
    }
    Ok(Redemption::Redeemed(grant))
}

pub(super) fn insert_refresh_token(
    tx: &Transaction<'_>,
    hash: &[u8],
    g: &GrantRecord,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    refuse_revoked(tx, &g.family_id)?;
    tx.prepare_cached(
        "INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, client_id, grant_doc, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![hash, g.family_id, g.tenant_id.to_string(), g.client_id, to_json(g), ms(now), ms(expires_at)])?;
    Ok(())
}

pub(super) fn use_refresh_token(
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
    if grant.client_id != client_id || revoked.is_some() || family_revoked(tx, &grant.family_id)? {
        return Ok(Redemption::Invalid);
    }
    if used.is_some() {
        // Reuse of a rotated refresh token: someone holds a copy. Revoke the family.
        revoke_family(tx, &grant.family_id, now)?;
        return Ok(Redemption::Reused);
    }
    if expires <= ms(now) {
        return Ok(Redemption::Invalid);
    }
    tx.execute(
        "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1",
        params![hash, ms(now)],
    )?;
    Ok(Redemption::Redeemed(grant))
}

pub(super) fn revoke_refresh_token(
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

pub(super) fn record_access_token(
    tx: &Transaction<'_>,
    jti: &str,
    family: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    refuse_revoked(tx, family)?;
    tx.prepare_cached(
        "INSERT INTO issued_access_tokens (jti, family_id, expires_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![jti, family, ms(expires_at)])?;
    Ok(())
}

pub(super) fn revoke_access_token(
    tx: &Transaction<'_>,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "INSERT OR IGNORE INTO revoked_access_tokens (jti, expires_at) VALUES (?1, ?2)",
        params![jti, ms(expires_at)],
    )?;
    Ok(())
}

pub(super) fn access_token_revoked(c: &Connection, jti: &str) -> StoreResult<bool> {
    Ok(
        c.prepare_cached(
            "SELECT 1 FROM revoked_access_tokens WHERE jti = ?1
             UNION ALL
             SELECT 1 FROM issued_access_tokens i JOIN revoked_families f ON f.family_id = i.family_id WHERE i.jti = ?1",
        )?
        .exists([jti])?,
    )
}

pub(super) fn revoke_session(
    tx: &Transaction<'_>,
    sid: SessionId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![sid.to_string(), ms(now)],
    )?;
    Ok(())
}

pub(super) fn refresh_token_client(c: &Connection, hash: &[u8]) -> StoreResult<Option<String>> {
    Ok(
        c.prepare_cached("SELECT client_id FROM refresh_tokens WHERE token_hash = ?1")?
            .query_row([hash], |r| r.get(0))
            .optional()?,
    )
}
