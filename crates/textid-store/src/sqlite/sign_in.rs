//! SMS sign-in: the candidate look-up (one read) and the atomic step (one write
//! transaction: load the flow, the number's counters, its owner and the policy; call the
//! step's decision; write what it returns).

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use textid_core::code::Digest;
use textid_core::flow::sms_sign_in::{FlowPurpose, FlowState};
use textid_core::flow::{PhoneCounter, SmsSignInFlow};
use textid_core::message::Channel;
use textid_core::{FlowId, TenantId};

use async_trait::async_trait;

use super::rows::{id, ms, opt_id, time};
use super::{abuse, auth_requests, logs, outbox, policy, SqliteStore};
use crate::{
    Decide, NumberHolding, SignInCandidate, SignInStore, StepInput, StepTarget, StepWrite,
    StoreError, StoreResult,
};
use textid_core::abuse::{AbuseQuery, AbuseState};

fn candidate(
    c: &Connection,
    tenant: TenantId,
    phone: &str,
) -> StoreResult<Option<SignInCandidate>> {
    let row = c
        .prepare_cached(
            "SELECT pm.user_id, u.account_enabled, pm.needs_confirmation,
                    EXISTS (SELECT 1 FROM phone_methods o
                            WHERE o.tenant_id = pm.tenant_id AND o.number = pm.number AND o.user_id <> pm.user_id),
                    (SELECT group_concat(m.group_id) FROM group_members m WHERE m.user_id = pm.user_id)
             FROM phone_methods pm JOIN users u ON u.id = pm.user_id
             WHERE pm.tenant_id = ?1 AND pm.number = ?2 AND pm.phone_type = 'mobile' AND pm.sms_sign_in_enabled = 1",
        )?
        .query_row(params![tenant.to_string(), phone], |r| {
            Ok((
                r.get::<_, String>(0)?, r.get::<_, bool>(1)?, r.get::<_, bool>(2)?,
                r.get::<_, bool>(3)?, r.get::<_, Option<String>>(4)?,
            ))
        })
        .optional()?;
    let Some((uid, account_enabled, needs_confirmation, number_shared, groups)) = row else {
        return Ok(None);
    };
    let groups = groups
        .unwrap_or_default()
        .split(',')
        .filter(|g| !g.is_empty())
        .map(id)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Some(SignInCandidate {
        user_id: id(&uid)?,
        account_enabled,
        groups,
        number_shared,
        needs_confirmation,
    }))
}

/// Who holds `phone` without being its candidate (asked only when there is none).
fn holding(c: &Connection, tenant: TenantId, phone: &str) -> StoreResult<Option<NumberHolding>> {
    let row = c
        .prepare_cached(
            "SELECT pm.user_id, pm.phone_type, u.account_enabled,
                    EXISTS (SELECT 1 FROM phone_methods o
                            WHERE o.tenant_id = pm.tenant_id AND o.number = pm.number AND o.user_id <> pm.user_id)
             FROM phone_methods pm JOIN users u ON u.id = pm.user_id
             WHERE pm.tenant_id = ?1 AND pm.number = ?2
             ORDER BY pm.phone_type = 'mobile' DESC, pm.user_id LIMIT 1",
        )?
        .query_row(params![tenant.to_string(), phone], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })
        .optional()?;
    row.map(|(uid, t, account_enabled, number_shared)| {
        Ok(NumberHolding {
            user_id: id(&uid)?,
            phone_type: crate::phone_type_from_stored(&t)?,
            account_enabled,
            number_shared,
        })
    })
    .transpose()
}

fn load_flow(tx: &Connection, tenant: TenantId, fid: FlowId) -> StoreResult<Option<SmsSignInFlow>> {
    let row = tx
        .prepare_cached(
            "SELECT phone, user_id, code_hash, code_expires_at, attempts, sends, last_sent_at, created_at, state, channel, purpose
             FROM sms_sign_in_flows WHERE id = ?1 AND tenant_id = ?2",
        )?
        .query_row(params![fid.to_string(), tenant.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Option<Vec<u8>>>(2)?,
                r.get::<_, i64>(3)?, r.get::<_, u32>(4)?, r.get::<_, u32>(5)?, r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?, r.get::<_, String>(8)?, r.get::<_, String>(9)?,
                r.get::<_, String>(10)?,
            ))
        })
        .optional()?;
    let Some((
        phone,
        uid,
        hash,
        expires,
        attempts,
        sends,
        last_sent,
        created,
        state,
        channel,
        purpose,
    )) = row
    else {
        return Ok(None);
    };
    Ok(Some(SmsSignInFlow {
        id: fid,
        tenant_id: tenant,
        phone_e164: phone,
        user_id: opt_id(uid)?,
        code_hash: hash
            .map(|h| Digest::from_slice(&h).ok_or_else(|| StoreError::Corrupt("code_hash".into())))
            .transpose()?,
        code_expires_at: time(expires),
        attempts,
        sends,
        last_sent_at: time(last_sent),
        created_at: time(created),
        state: FlowState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("flow state {state}")))?,
        channel: Channel::parse(&channel)
            .ok_or_else(|| StoreError::Corrupt(format!("flow channel {channel}")))?,
        purpose: FlowPurpose::parse(&purpose)
            .ok_or_else(|| StoreError::Corrupt(format!("flow purpose {purpose}")))?,
    }))
}

fn save_flow(tx: &Transaction<'_>, f: &SmsSignInFlow) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO sms_sign_in_flows (id, tenant_id, phone, user_id, code_hash, code_expires_at, attempts, sends, last_sent_at, created_at, state, channel, purpose)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (id) DO UPDATE SET code_hash = excluded.code_hash, code_expires_at = excluded.code_expires_at,
             attempts = excluded.attempts, sends = excluded.sends, last_sent_at = excluded.last_sent_at, state = excluded.state,
             channel = excluded.channel",
    )?
    .execute(params![
        f.id.to_string(), f.tenant_id.to_string(), f.phone_e164, f.user_id.map(|u| u.to_string()),
        f.code_hash.as_ref().map(|h| h.0.to_vec()), ms(f.code_expires_at), f.attempts, f.sends,
        ms(f.last_sent_at), ms(f.created_at), f.state.as_str(), f.channel.as_str(), f.purpose.as_str()
    ])?;
    Ok(())
}

fn load_counter(tx: &Transaction<'_>, tenant: TenantId, phone: &str) -> StoreResult<PhoneCounter> {
    Ok(tx
        .prepare_cached(
            "SELECT consecutive_failures, locked_until, window_started_at, window_sends FROM phone_counters WHERE tenant_id = ?1 AND phone = ?2",
        )?
        .query_row(params![tenant.to_string(), phone], |r| {
            Ok(PhoneCounter {
                consecutive_failures: r.get(0)?,
                locked_until: r.get::<_, Option<i64>>(1)?.map(time),
                window_started_at: r.get::<_, Option<i64>>(2)?.map(time),
                window_sends: r.get(3)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

fn save_counter(
    tx: &Transaction<'_>,
    tenant: TenantId,
    phone: &str,
    c: &PhoneCounter,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO phone_counters (tenant_id, phone, consecutive_failures, locked_until, window_started_at, window_sends)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant_id, phone) DO UPDATE SET consecutive_failures = excluded.consecutive_failures,
             locked_until = excluded.locked_until, window_started_at = excluded.window_started_at, window_sends = excluded.window_sends",
    )?
    .execute(params![
        tenant.to_string(), phone, c.consecutive_failures, c.locked_until.map(ms),
        c.window_started_at.map(ms), c.window_sends
    ])?;
    Ok(())
}

fn step(
    tx: &Transaction<'_>,
    tenant: TenantId,
    target: &StepTarget,
    query: &AbuseQuery,
    decide: Decide,
) -> StoreResult<StepWrite> {
    let flow = match target {
        StepTarget::Flow(fid) => load_flow(tx, tenant, *fid)?,
        StepTarget::Number(_) => None,
    };
    let phone = match target {
        StepTarget::Number(p) => Some(p.clone()),
        StepTarget::Flow(_) => flow.as_ref().map(|f| f.phone_e164.clone()),
    };
    let counter = phone
        .as_deref()
        .map(|p| load_counter(tx, tenant, p))
        .transpose()?;
    let candidate = match phone.as_deref() {
        Some(p) => candidate(tx, tenant, p)?,
        None => None,
    };
    let holding = match (&candidate, phone.as_deref()) {
        (None, Some(p)) => holding(tx, tenant, p)?,
        _ => None,
    };
    let policy = policy::load(tx, tenant)?;
    let reads = phone
        .as_deref()
        .map(|p| textid_core::abuse::reads(tenant, p, query));
    let abuse_state = match (phone.as_deref(), &reads) {
        (Some(p), Some(r)) => abuse::load(tx, tenant, p, r)?,
        _ => AbuseState::default(),
    };
    let write = decide(StepInput {
        flow: flow.as_ref(),
        counter: counter.as_ref(),
        candidate: candidate.as_ref(),
        holding: holding.as_ref(),
        policy: &policy,
        abuse: &abuse_state,
    });
    if let (Some(p), Some(r)) = (phone.as_deref(), &reads) {
        abuse::save(
            tx,
            tenant,
            p,
            r.client_ip.as_deref(),
            &abuse_state,
            &write.abuse,
            write.at,
        )?;
    }
    if let Some(f) = write.flow.as_ref().filter(|f| Some(*f) != flow.as_ref()) {
        save_flow(tx, f)?;
    }
    if let (Some(c), Some(p)) = (write.counter.as_ref(), phone.as_deref()) {
        if Some(c) != counter.as_ref() {
            save_counter(tx, tenant, p, c)?;
        }
    }
    if let (true, Some(f)) = (write.supersede_queued, &write.flow) {
        outbox::supersede(tx, f.id, write.at)?;
    }
    if let Some(m) = &write.message {
        outbox::insert(tx, tenant, write.flow.as_ref().map(|f| f.id), m)?;
    }
    if let Some(s) = &write.session {
        tx.prepare_cached(
            "INSERT INTO sessions (id, tenant_id, user_id, token_hash, amr, created_at, expires_at, kind, client_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            s.id.to_string(),
            tenant.to_string(),
            s.user_id.to_string(),
            s.token_hash.0.to_vec(),
            s.amr.join(" "),
            ms(write.at),
            ms(s.expires_at),
            s.kind.as_str(),
            s.client_id
        ])?;
    }
    if let Some(l) = &write.log {
        logs::insert(tx, l)?;
    }
    if let (Some(request), Some(f)) = (&write.link_request, &write.flow) {
        auth_requests::set_auth_request_flow(tx, request, Some(f.id))?;
    }
    Ok(write)
}

#[async_trait]
impl SignInStore for SqliteStore {
    async fn sign_in_candidate(
        &self,
        tenant: TenantId,
        phone: &str,
    ) -> StoreResult<Option<SignInCandidate>> {
        let phone = phone.to_string();
        self.lookup(move |c| candidate(c, tenant, &phone)).await
    }

    async fn sms_sign_in_step(
        &self,
        tenant: TenantId,
        target: StepTarget,
        query: AbuseQuery,
        decide: Decide,
    ) -> StoreResult<StepWrite> {
        // Unisolated: the step reads, decides, and only then writes rows that no
        // constraint refuses (the flow, the number's counter, the message, the session,
        // the log, the budgets), so it fails before writing or only when the database does.
        self.write_unisolated(move |tx| step(tx, tenant, &target, &query, decide))
            .await
    }

    async fn sms_flow(&self, tenant: TenantId, fid: FlowId) -> StoreResult<Option<SmsSignInFlow>> {
        self.lookup(move |c| load_flow(c, tenant, fid)).await
    }
}
