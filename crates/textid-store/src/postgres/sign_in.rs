//! SMS sign-in: the candidate look-up (one read) and the atomic step (one write
//! transaction that locks everything its decision reads, then writes what it returns).
//!
//! The step's locks, in order:
//! 1. the flow row `FOR UPDATE` (for a step on a flow): two verifications of one code
//!    queue here, and the second sees the flow the first completed;
//! 2. the number's counter row: created if missing, locked and read by one upsert
//!    (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`), so every wrong code on the number, from any flow or node, is
//!    counted once and the attempt limit and lock hold under any concurrency;
//! 3. the owner's method and user rows `FOR SHARE`: a concurrent disable, number change or
//!    user deletion waits for the step or is seen by it.
//!
//! The send counters of the decision are written after the step commits, by the node's
//! counter writer (module `counters` says why).
//!
//! The step sends its reads together, and then its writes together (pipelined: a round
//! trip each). The policy is read as of the statement (a concurrent policy change is ordered before
//! or after the step, both fine). The decision is the `Decide` closure, called again if
//! the transaction runs again (`retry`).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use textid_core::code::Digest;
use textid_core::flow::sms_sign_in::{FlowPurpose, FlowState};
use textid_core::flow::{PhoneCounter, SmsSignInFlow};
use textid_core::message::Channel;
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::{FlowId, TenantId};
use tokio_postgres::Row;

use super::retry::{Replay, Tx};
use super::rows::{count, execute, int, json, ms, query_opt, time};
use super::{abuse, auth_requests, logs, outbox, policy, PostgresStore};
use crate::{
    Decide, NumberHolding, SignInCandidate, SignInStore, StepInput, StepTarget, StepWrite,
    StoreError, StoreResult,
};
use textid_core::abuse::{AbuseQuery, AbuseState};

macro_rules! candidate_sql {
    () => {
        "SELECT pm.user_id, u.account_enabled, pm.needs_confirmation,
            EXISTS (SELECT 1 FROM phone_methods o
                    WHERE o.tenant_id = pm.tenant_id AND o.number = pm.number AND o.user_id <> pm.user_id),
            ARRAY(SELECT m.group_id FROM group_members m WHERE m.user_id = pm.user_id ORDER BY m.group_id)
     FROM phone_methods pm JOIN users u ON u.id = pm.user_id
     WHERE pm.tenant_id = $1 AND pm.number = $2 AND pm.phone_type = 'mobile' AND pm.sms_sign_in_enabled"
    };
}
macro_rules! flow_sql {
    () => {
        "SELECT phone, user_id, code_hash, code_expires_at, attempts, sends, last_sent_at, created_at, state, channel, purpose
     FROM sms_sign_in_flows WHERE id = $1 AND tenant_id = $2"
    };
}

const CANDIDATE: &str = candidate_sql!();
/// What the step reads of the owner and the tenant, in one statement: the tenant's policy
/// (as of this statement) and the candidate, its method and user rows locked (lock 3).
/// No row: no such tenant.
const POLICY_AND_CANDIDATE: &str = concat!(
    "SELECT t.policy, c.* FROM tenants t LEFT JOIN LATERAL (",
    candidate_sql!(),
    " FOR SHARE OF pm, u) c ON true WHERE t.id = $1"
);
const FLOW: &str = flow_sql!();
/// The flow as the step reads it: locked (lock 1).
const FLOW_LOCKED: &str = concat!(flow_sql!(), " FOR UPDATE");
/// Lock 2: the number's counter row, created if missing, locked and read in one statement
/// (`DO UPDATE` locks an existing row and returns its current version; it writes a version
/// that changes nothing, which HOT keeps on its page).
const LOCK_COUNTER: &str =
    "INSERT INTO phone_counters (tenant_id, phone, consecutive_failures, window_sends) VALUES ($1, $2, 0, 0)
     ON CONFLICT (tenant_id, phone) DO UPDATE SET consecutive_failures = phone_counters.consecutive_failures
     RETURNING consecutive_failures, locked_until, window_started_at, window_sends";

fn to_candidate(r: &Row) -> StoreResult<SignInCandidate> {
    let groups: Vec<uuid::Uuid> = r.try_get(4)?;
    Ok(SignInCandidate {
        user_id: textid_core::UserId(r.try_get(0)?),
        account_enabled: r.try_get(1)?,
        needs_confirmation: r.try_get(2)?,
        number_shared: r.try_get(3)?,
        groups: groups.into_iter().map(textid_core::GroupId).collect(),
    })
}

async fn candidate<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    phone: &str,
    sql: &str,
) -> StoreResult<Option<SignInCandidate>> {
    query_opt(c, sql, &[&tenant.0, &phone])
        .await?
        .as_ref()
        .map(to_candidate)
        .transpose()
}

/// Who holds `phone` without being its candidate (asked only when there is none).
async fn holding(tx: &Tx<'_>, tenant: TenantId, phone: &str) -> StoreResult<Option<NumberHolding>> {
    let row = query_opt(
        tx,
        "SELECT pm.user_id, pm.phone_type, u.account_enabled,
                EXISTS (SELECT 1 FROM phone_methods o
                        WHERE o.tenant_id = pm.tenant_id AND o.number = pm.number AND o.user_id <> pm.user_id)
         FROM phone_methods pm JOIN users u ON u.id = pm.user_id
         WHERE pm.tenant_id = $1 AND pm.number = $2
         ORDER BY pm.phone_type = 'mobile' DESC, pm.user_id LIMIT 1",
        &[&tenant.0, &phone],
    )
    .await?;
    row.map(|r| {
        let t: String = r.try_get(1)?;
        Ok(NumberHolding {
            user_id: textid_core::UserId(r.try_get(0)?),
            phone_type: crate::phone_type_from_stored(&t)?,
            account_enabled: r.try_get(2)?,
            number_shared: r.try_get(3)?,
        })
    })
    .transpose()
}

fn to_flow(fid: FlowId, tenant: TenantId, r: &Row) -> StoreResult<SmsSignInFlow> {
    let hash: Option<Vec<u8>> = r.try_get(2)?;
    let state: String = r.try_get(8)?;
    let channel: String = r.try_get(9)?;
    let purpose: String = r.try_get(10)?;
    Ok(SmsSignInFlow {
        id: fid,
        tenant_id: tenant,
        phone_e164: r.try_get(0)?,
        user_id: r
            .try_get::<_, Option<uuid::Uuid>>(1)?
            .map(textid_core::UserId),
        code_hash: hash
            .map(|h| Digest::from_slice(&h).ok_or_else(|| StoreError::Corrupt("code_hash".into())))
            .transpose()?,
        code_expires_at: time(r.try_get(3)?),
        attempts: count(r.try_get(4)?)?,
        sends: count(r.try_get(5)?)?,
        last_sent_at: time(r.try_get(6)?),
        created_at: time(r.try_get(7)?),
        state: FlowState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("flow state {state}")))?,
        channel: Channel::parse(&channel)
            .ok_or_else(|| StoreError::Corrupt(format!("flow channel {channel}")))?,
        purpose: FlowPurpose::parse(&purpose)
            .ok_or_else(|| StoreError::Corrupt(format!("flow purpose {purpose}")))?,
    })
}

async fn load_flow<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    fid: FlowId,
    sql: &str,
) -> StoreResult<Option<SmsSignInFlow>> {
    query_opt(c, sql, &[&fid.0, &tenant.0])
        .await?
        .as_ref()
        .map(|r| to_flow(fid, tenant, r))
        .transpose()
}

async fn save_flow(tx: &Tx<'_>, f: &SmsSignInFlow) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO sms_sign_in_flows (id, tenant_id, phone, user_id, code_hash, code_expires_at, attempts, sends, last_sent_at, created_at, state, channel, purpose)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (id) DO UPDATE SET code_hash = excluded.code_hash, code_expires_at = excluded.code_expires_at,
             attempts = excluded.attempts, sends = excluded.sends, last_sent_at = excluded.last_sent_at, state = excluded.state,
             channel = excluded.channel",
        &[
            &f.id.0, &f.tenant_id.0, &f.phone_e164, &f.user_id.map(|u| u.0),
            &f.code_hash.as_ref().map(|h| h.0.as_slice()), &ms(f.code_expires_at), &int(f.attempts),
            &int(f.sends), &ms(f.last_sent_at), &ms(f.created_at), &f.state.as_str(),
            &f.channel.as_str(), &f.purpose.as_str(),
        ],
    )
    .await?;
    Ok(())
}

/// The number's counters, locked for the transaction (a default row is created first, so
/// there is always a row to lock, and concurrent first steps queue on it).
async fn lock_counter(tx: &Tx<'_>, tenant: TenantId, phone: &str) -> StoreResult<PhoneCounter> {
    let r = query_opt(tx, LOCK_COUNTER, &[&tenant.0, &phone])
        .await?
        .ok_or_else(|| StoreError::Corrupt("the counter upsert returned no row".into()))?;
    Ok(PhoneCounter {
        consecutive_failures: count(r.try_get(0)?)?,
        locked_until: r.try_get::<_, Option<i64>>(1)?.map(time),
        window_started_at: r.try_get::<_, Option<i64>>(2)?.map(time),
        window_sends: count(r.try_get(3)?)?,
    })
}

/// The tenant's policy and the number's candidate (lock 3), in one statement.
async fn policy_and_candidate(
    tx: &Tx<'_>,
    tenant: TenantId,
    phone: &str,
) -> StoreResult<(AuthenticationMethodsPolicy, Option<SignInCandidate>)> {
    let r = query_opt(tx, POLICY_AND_CANDIDATE, &[&tenant.0, &phone])
        .await?
        .ok_or(StoreError::NotFound("tenant"))?;
    let policy = json(r.try_get(0)?)?;
    let candidate = match r.try_get::<_, Option<uuid::Uuid>>(1)? {
        Some(user) => {
            let groups: Vec<uuid::Uuid> = r.try_get(5)?;
            Some(SignInCandidate {
                user_id: textid_core::UserId(user),
                account_enabled: r.try_get(2)?,
                needs_confirmation: r.try_get(3)?,
                number_shared: r.try_get(4)?,
                groups: groups.into_iter().map(textid_core::GroupId).collect(),
            })
        }
        None => None,
    };
    Ok((policy, candidate))
}

async fn save_counter(
    tx: &Tx<'_>,
    tenant: TenantId,
    phone: &str,
    c: &PhoneCounter,
) -> StoreResult<()> {
    execute(
        tx,
        "UPDATE phone_counters SET consecutive_failures = $3, locked_until = $4, window_started_at = $5, window_sends = $6
         WHERE tenant_id = $1 AND phone = $2",
        &[
            &tenant.0, &phone, &int(c.consecutive_failures), &c.locked_until.map(ms),
            &c.window_started_at.map(ms), &int(c.window_sends),
        ],
    )
    .await?;
    Ok(())
}

async fn step(
    tx: &Tx<'_>,
    tenant: TenantId,
    target: &StepTarget,
    query: &AbuseQuery,
    decide: &Decide,
) -> StoreResult<StepWrite> {
    let flow = match target {
        StepTarget::Flow(fid) => load_flow(tx, tenant, *fid, FLOW_LOCKED).await?,
        StepTarget::Number(_) => None,
    };
    let phone = match target {
        StepTarget::Number(p) => Some(p.clone()),
        StepTarget::Flow(_) => flow.as_ref().map(|f| f.phone_e164.clone()),
    };
    let reads = phone
        .as_deref()
        .map(|p| textid_core::abuse::reads(tenant, p, query));
    let (counter, candidate, policy, abuse_state) = match (phone.as_deref(), &reads) {
        (Some(p), Some(r)) => {
            // The reads go out together (one round trip) and run in this order: lock 2,
            // lock 3 with the policy, then 4. the abuse rows the query names (after the
            // number's counter is locked, so the (number, client IP) counter is exact;
            // budgets are rate bounds, see abuse.rs). Every statement is prepared first:
            // one still to prepare would be sent after the others.
            for sql in [LOCK_COUNTER, POLICY_AND_CANDIDATE]
                .into_iter()
                .chain(abuse::statements(r))
            {
                tx.prepare_cached(sql).await?;
            }
            let (counter, (policy, candidate), abuse_state) = tokio::try_join!(
                lock_counter(tx, tenant, p),
                policy_and_candidate(tx, tenant, p),
                abuse::load(tx, tenant, p, r),
            )?;
            (Some(counter), candidate, policy, abuse_state)
        }
        _ => (
            None,
            None,
            policy::load(tx, tenant).await?,
            AbuseState::default(),
        ),
    };
    let holding = match (&candidate, phone.as_deref()) {
        (None, Some(p)) => holding(tx, tenant, p).await?,
        _ => None,
    };
    let write = decide(StepInput {
        flow: flow.as_ref(),
        counter: counter.as_ref(),
        candidate: candidate.as_ref(),
        holding: holding.as_ref(),
        policy: &policy,
        abuse: &abuse_state,
    });
    // The writes touch rows this transaction holds or new ones: they go out together too.
    let abuse_rows = async {
        match (phone.as_deref(), &reads) {
            (Some(p), Some(r)) => {
                abuse::save(
                    tx,
                    tenant,
                    p,
                    r.client_ip.as_deref(),
                    &abuse_state,
                    &write.abuse,
                    write.at,
                )
                .await
            }
            _ => Ok(()),
        }
    };
    let flow_row = async {
        match write.flow.as_ref().filter(|f| Some(*f) != flow.as_ref()) {
            Some(f) => save_flow(tx, f).await,
            None => Ok(()),
        }
    };
    let counter_row = async {
        match (write.counter.as_ref(), phone.as_deref()) {
            (Some(c), Some(p)) if Some(c) != counter.as_ref() => {
                save_counter(tx, tenant, p, c).await
            }
            _ => Ok(()),
        }
    };
    let superseded = async {
        match (write.supersede_queued, &write.flow) {
            (true, Some(f)) => {
                let new = write.message.as_ref().map(|m| m.id);
                outbox::supersede(tx, f.id, new, write.at).await
            }
            _ => Ok(()),
        }
    };
    let message = async {
        match &write.message {
            Some(m) => outbox::insert(tx, tenant, write.flow.as_ref().map(|f| f.id), m).await,
            None => Ok(()),
        }
    };
    let session = async {
        if let Some(s) = &write.session {
            execute(
                tx,
                "INSERT INTO sessions (id, tenant_id, user_id, token_hash, amr, created_at, expires_at, kind, client_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &s.id.0, &tenant.0, &s.user_id.0, &s.token_hash.0.as_slice(), &s.amr.join(" "),
                    &ms(write.at), &ms(s.expires_at), &s.kind.as_str(), &s.client_id,
                ],
            )
            .await?;
        }
        Ok(())
    };
    let log = async {
        match &write.log {
            Some(l) => logs::insert(tx, l).await,
            None => Ok(()),
        }
    };
    let link = async {
        match (&write.link_request, &write.flow) {
            (Some(request), Some(f)) => auth_requests::set_flow(tx, request, Some(f.id)).await,
            _ => Ok(()),
        }
    };
    tokio::try_join!(
        abuse_rows,
        flow_row,
        counter_row,
        superseded,
        message,
        session,
        log,
        link
    )?;
    Ok(write)
}

#[async_trait]
impl SignInStore for PostgresStore {
    async fn sign_in_candidate(
        &self,
        tenant: TenantId,
        phone: &str,
    ) -> StoreResult<Option<SignInCandidate>> {
        self.read(&(tenant, phone), |c, (t, p)| {
            Box::pin(candidate(c, *t, p, CANDIDATE))
        })
        .await
    }

    async fn sms_sign_in_step(
        &self,
        tenant: TenantId,
        target: StepTarget,
        query: AbuseQuery,
        decide: Decide,
    ) -> StoreResult<StepWrite> {
        // Not replayed after an unknown COMMIT: a session may have been created.
        let write = self
            .write(
                Replay::Unsafe,
                &(tenant, target, query, decide),
                |tx, (t, target, q, d)| Box::pin(step(tx, *t, target, q, d)),
            )
            .await?;
        // The send counters, once the step committed, by the node's counter writer (see
        // `counters`). A failure leaves the step as it is, committed: its answer stands,
        // a budget misses its counts.
        if !write.abuse.increments.is_empty()
            && !self
                .inner
                .counters
                .add(write.abuse.increments.clone())
                .await
        {
            tracing::warn!("postgres: a step's send counters were not written");
        }
        Ok(write)
    }

    async fn sms_flow(&self, tenant: TenantId, fid: FlowId) -> StoreResult<Option<SmsSignInFlow>> {
        self.read(&(tenant, fid), |c, (t, f)| {
            Box::pin(load_flow(c, *t, *f, FLOW))
        })
        .await
    }
}
