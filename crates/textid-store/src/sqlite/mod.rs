//! The SQLite backend: the embedded default. One file in WAL mode; one writer connection
//! (SQLite admits one writer at a time, so write transactions queue on it instead of
//! spinning on `SQLITE_BUSY`) and a small pool of reader connections. Every call runs on
//! tokio's blocking pool. Write transactions are `BEGIN IMMEDIATE`, so a decision taken
//! inside one sees rows no other writer can change before it commits.
//!
//! Durability: `synchronous = NORMAL` in WAL mode survives a process crash (kill -9) of
//! anything committed; `TEXTID_SQLITE_SYNCHRONOUS=full` adds survival of power loss at
//! the cost of an fsync per commit.

mod directory;
mod graph;
mod oauth;
mod outbox;
mod phone;
mod rows;
mod sign_in;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use textid_core::directory::{Group, Upn, User};
use textid_core::message::QueuedMessage;
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::tenant::Tenant;
use textid_core::{GroupId, MessageId, TenantId, UserId};

use crate::{
    Actor, AuditEntry, ClientRecord, Decide, DeliveryOutcome, GrantRecord, MessageRecord,
    PhoneMethodChange, PhoneMethodRecord, Redemption, SessionRecord, SignInCandidate,
    SignInLogEntry, SigningKeyRecord, StepTarget, StepWrite, Store, StoreError, StoreResult,
};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_oauth.sql")),
    (3, include_str!("../../migrations/sqlite/0003_graph.sql")),
    (
        4,
        include_str!("../../migrations/sqlite/0004_revoked_families.sql"),
    ),
];
const READERS: usize = 4;

/// Options of the SQLite backend.
#[derive(Debug, Clone, Default)]
pub struct SqliteOptions {
    /// `synchronous = FULL` instead of `NORMAL`.
    pub synchronous_full: bool,
}

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    options: SqliteOptions,
}

fn open_connection(path: &Path, options: &SqliteOptions) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let sync = if options.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let mut writer = open_connection(&path, &options)?;
        migrate(&mut writer)?;
        Ok(Self {
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            options,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match this.readers.lock().map_err(|_| poisoned())?.pop() {
                Some(c) => c,
                None => open_connection(&this.path, &this.options)?,
            };
            let result = f(&conn);
            let mut pool = this.readers.lock().map_err(|_| poisoned())?;
            if pool.len() < READERS {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().map_err(|_| poisoned())?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
    }
}

fn poisoned() -> StoreError {
    StoreError::Corrupt("connection lock poisoned by an earlier panic".into())
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (version, sql) in MIGRATIONS {
        if *version > current {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
            tx.commit()?;
        }
    }
    Ok(())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, msg) => match f.code {
                rusqlite::ErrorCode::ConstraintViolation => {
                    StoreError::Conflict(constraint_name(msg.as_deref().unwrap_or_default()))
                }
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    StoreError::Busy
                }
                _ => StoreError::Backend(Box::new(e)),
            },
            _ => StoreError::Backend(Box::new(e)),
        }
    }
}

/// SQLite names the columns, not the constraint: map them to the schema's names.
fn constraint_name(message: &str) -> String {
    if message.contains("users.tenant_id, users.upn") {
        "users_upn_unique".into()
    } else if message.contains("phone_methods.tenant_id, phone_methods.number") {
        "phone_methods_sms_sign_in_unique".into()
    } else if message.contains("group_members") {
        "group_members".into()
    } else if message.contains("phone_methods.user_id, phone_methods.phone_type") {
        "phone_methods_pkey".into()
    } else {
        message.to_string()
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ensure_tenant(&self, name: &str, now: DateTime<Utc>) -> StoreResult<Tenant> {
        let name = name.to_string();
        self.write(move |tx| directory::ensure_tenant(tx, &name, now))
            .await
    }
    async fn set_tenant_region(
        &self,
        tenant: TenantId,
        region: Option<&str>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (region, actor) = (region.map(str::to_string), actor.clone());
        self.write(move |tx| {
            directory::set_tenant_region(tx, tenant, region.as_deref(), &actor, now)
        })
        .await
    }
    async fn tenant_by_name(&self, name: &str) -> StoreResult<Option<Tenant>> {
        let name = name.to_string();
        self.read(move |c| directory::tenant_by_name(c, &name))
            .await
    }
    async fn create_user(&self, user: &User, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()> {
        let (user, actor) = (user.clone(), actor.clone());
        self.write(move |tx| directory::create_user(tx, &user, &actor, now))
            .await
    }
    async fn user(&self, tenant: TenantId, id: UserId) -> StoreResult<Option<User>> {
        self.read(move |c| directory::user(c, tenant, id)).await
    }
    async fn user_by_upn(&self, tenant: TenantId, upn: &Upn) -> StoreResult<Option<User>> {
        let upn = upn.clone();
        self.read(move |c| directory::user_by_upn(c, tenant, &upn))
            .await
    }
    async fn list_users(
        &self,
        tenant: TenantId,
        after: Option<&Upn>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let after = after.cloned();
        self.read(move |c| directory::list_users(c, tenant, after.as_ref(), limit))
            .await
    }
    async fn update_user(&self, user: &User, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()> {
        let (user, actor) = (user.clone(), actor.clone());
        self.write(move |tx| directory::update_user(tx, &user, &actor, now))
            .await
    }
    async fn delete_user(
        &self,
        tenant: TenantId,
        id: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.write(move |tx| directory::delete_user(tx, tenant, id, &actor, now))
            .await
    }
    async fn create_group(
        &self,
        group: &Group,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (group, actor) = (group.clone(), actor.clone());
        self.write(move |tx| directory::create_group(tx, &group, &actor, now))
            .await
    }
    async fn group(&self, tenant: TenantId, id: GroupId) -> StoreResult<Option<Group>> {
        self.read(move |c| directory::group(c, tenant, id)).await
    }
    async fn list_groups(&self, tenant: TenantId) -> StoreResult<Vec<Group>> {
        self.read(move |c| directory::list_groups(c, tenant)).await
    }
    async fn delete_group(
        &self,
        tenant: TenantId,
        id: GroupId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.write(move |tx| directory::delete_group(tx, tenant, id, &actor, now))
            .await
    }
    async fn add_member(
        &self,
        tenant: TenantId,
        group: GroupId,
        user: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.write(move |tx| directory::set_member(tx, tenant, group, user, true, &actor, now))
            .await
    }
    async fn remove_member(
        &self,
        tenant: TenantId,
        group: GroupId,
        user: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.write(move |tx| directory::set_member(tx, tenant, group, user, false, &actor, now))
            .await
    }
    async fn members(&self, tenant: TenantId, group: GroupId) -> StoreResult<Vec<User>> {
        self.read(move |c| directory::members(c, tenant, group))
            .await
    }
    async fn groups_of(&self, tenant: TenantId, user: UserId) -> StoreResult<Vec<GroupId>> {
        self.read(move |c| directory::groups_of(c, tenant, user))
            .await
    }
    async fn phone_methods(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> StoreResult<Vec<PhoneMethodRecord>> {
        self.read(move |c| phone::list(c, tenant, user)).await
    }
    async fn change_phone_method(
        &self,
        change: PhoneMethodChange,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.write(move |tx| phone::change(tx, &change, &actor, now))
            .await
    }
    async fn policy(&self, tenant: TenantId) -> StoreResult<AuthenticationMethodsPolicy> {
        self.read(move |c| directory::policy(c, tenant)).await
    }
    async fn put_policy(
        &self,
        tenant: TenantId,
        policy: &AuthenticationMethodsPolicy,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (policy, actor) = (policy.clone(), actor.clone());
        self.write(move |tx| directory::put_policy(tx, tenant, &policy, &actor, now))
            .await
    }
    async fn sign_in_candidate(
        &self,
        tenant: TenantId,
        phone: &str,
    ) -> StoreResult<Option<SignInCandidate>> {
        let phone = phone.to_string();
        self.read(move |c| sign_in::candidate(c, tenant, &phone))
            .await
    }
    async fn sms_sign_in_step(
        &self,
        tenant: TenantId,
        target: StepTarget,
        decide: Decide,
    ) -> StoreResult<StepWrite> {
        self.write(move |tx| sign_in::step(tx, tenant, &target, decide))
            .await
    }
    async fn sms_flow(
        &self,
        tenant: TenantId,
        id: textid_core::FlowId,
    ) -> StoreResult<Option<textid_core::flow::SmsSignInFlow>> {
        self.read(move |c| sign_in::load_flow(c, tenant, id)).await
    }
    async fn session_by_token_hash(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionRecord>> {
        let hash = hash.to_vec();
        self.read(move |c| sign_in::session_by_token_hash(c, &hash, now))
            .await
    }
    async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<QueuedMessage>> {
        self.write(move |tx| outbox::claim(tx, now, lease_until, limit))
            .await
    }
    async fn finish_message(
        &self,
        id: MessageId,
        outcome: DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |tx| outbox::finish(tx, id, &outcome, now))
            .await
    }
    async fn list_messages(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<MessageRecord>> {
        self.read(move |c| outbox::list(c, tenant, limit)).await
    }
    async fn sign_in_logs(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<SignInLogEntry>> {
        self.read(move |c| sign_in::logs(c, tenant, limit)).await
    }
    async fn directory_audits(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.read(move |c| directory::audits(c, tenant, limit))
            .await
    }
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.read(oauth::signing_keys).await
    }
    async fn add_signing_key(&self, key: &SigningKeyRecord, now: DateTime<Utc>) -> StoreResult<()> {
        let key = key.clone();
        self.write(move |tx| oauth::add_signing_key(tx, &key, now))
            .await
    }
    async fn create_client(&self, client: &ClientRecord, now: DateTime<Utc>) -> StoreResult<()> {
        let client = client.clone();
        self.write(move |tx| oauth::create_client(tx, &client, now))
            .await
    }
    async fn update_client(&self, client: &ClientRecord) -> StoreResult<()> {
        let client = client.clone();
        self.write(move |tx| oauth::update_client(tx, &client))
            .await
    }
    async fn client(&self, tenant: TenantId, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let client_id = client_id.to_string();
        self.read(move |c| oauth::client(c, tenant, &client_id))
            .await
    }
    async fn list_clients(&self, tenant: TenantId) -> StoreResult<Vec<ClientRecord>> {
        self.read(move |c| oauth::list_clients(c, tenant)).await
    }
    async fn put_auth_request(
        &self,
        id: &str,
        tenant: TenantId,
        document: &serde_json::Value,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (id, document) = (id.to_string(), document.clone());
        self.write(move |tx| oauth::put_auth_request(tx, &id, tenant, &document, now, expires_at))
            .await
    }
    async fn auth_request(
        &self,
        id: &str,
        tenant: TenantId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(serde_json::Value, Option<textid_core::FlowId>)>> {
        let id = id.to_string();
        self.read(move |c| oauth::auth_request(c, &id, tenant, now))
            .await
    }
    async fn set_auth_request_flow(
        &self,
        id: &str,
        flow: Option<textid_core::FlowId>,
    ) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |tx| oauth::set_auth_request_flow(tx, &id, flow))
            .await
    }
    async fn delete_auth_request(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |tx| oauth::delete_auth_request(tx, &id))
            .await
    }
    async fn insert_code(
        &self,
        code_hash: &[u8],
        grant: &GrantRecord,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (hash, grant) = (code_hash.to_vec(), grant.clone());
        self.write(move |tx| oauth::insert_code(tx, &hash, &grant, expires_at))
            .await
    }
    async fn redeem_code(
        &self,
        code_hash: &[u8],
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Redemption> {
        let (hash, client) = (code_hash.to_vec(), client_id.to_string());
        self.write(move |tx| oauth::redeem_code(tx, &hash, &client, now))
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
        self.write(move |tx| oauth::insert_refresh_token(tx, &hash, &grant, now, expires_at))
            .await
    }
    async fn use_refresh_token(
        &self,
        token_hash: &[u8],
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Redemption> {
        let (hash, client) = (token_hash.to_vec(), client_id.to_string());
        self.write(move |tx| oauth::use_refresh_token(tx, &hash, &client, now))
            .await
    }
    async fn refresh_token_client(&self, token_hash: &[u8]) -> StoreResult<Option<String>> {
        let hash = token_hash.to_vec();
        self.read(move |c| oauth::refresh_token_client(c, &hash))
            .await
    }
    async fn revoke_refresh_token(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let hash = token_hash.to_vec();
        self.write(move |tx| oauth::revoke_refresh_token(tx, &hash, now))
            .await
    }
    async fn record_access_token(
        &self,
        jti: &str,
        family_id: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (jti, family) = (jti.to_string(), family_id.to_string());
        self.write(move |tx| oauth::record_access_token(tx, &jti, &family, expires_at))
            .await
    }
    async fn revoke_access_token(&self, jti: &str, expires_at: DateTime<Utc>) -> StoreResult<()> {
        let jti = jti.to_string();
        self.write(move |tx| oauth::revoke_access_token(tx, &jti, expires_at))
            .await
    }
    async fn access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let jti = jti.to_string();
        self.read(move |c| oauth::access_token_revoked(c, &jti))
            .await
    }
    async fn revoke_session(
        &self,
        id: textid_core::SessionId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |tx| oauth::revoke_session(tx, id, now))
            .await
    }
    async fn user_roles(&self, tenant: TenantId, user: UserId) -> StoreResult<Vec<String>> {
        self.read(move |c| graph::user_roles(c, tenant, user)).await
    }
    async fn set_user_role(
        &self,
        tenant: TenantId,
        user: UserId,
        role: &str,
        assigned: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (role, actor) = (role.to_string(), actor.clone());
        self.write(move |tx| graph::set_user_role(tx, tenant, user, &role, assigned, &actor, now))
            .await
    }
    async fn put_tap(
        &self,
        tap: &crate::TapRecord,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (tap, actor) = (tap.clone(), actor.clone());
        self.write(move |tx| graph::put_tap(tx, &tap, &actor, now))
            .await
    }
    async fn tap(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<crate::TapRecord>> {
        self.read(move |c| graph::tap(c, tenant, user)).await
    }
    async fn delete_tap(
        &self,
        tenant: TenantId,
        user: UserId,
        id: uuid::Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let actor = actor.clone();
        self.write(move |tx| graph::delete_tap(tx, tenant, user, id, &actor, now))
            .await
    }
    async fn sign_in_logs_between(
        &self,
        tenant: TenantId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        user: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<SignInLogEntry>> {
        self.read(move |c| graph::sign_in_logs_between(c, tenant, from, to, user, limit))
            .await
    }
    async fn directory_audits_between(
        &self,
        tenant: TenantId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        target: Option<String>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.read(move |c| graph::audits_between(c, tenant, from, to, target, limit))
            .await
    }
    async fn tenant_by_id(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        self.read(move |c| graph::tenant_by_id(c, id)).await
    }
    async fn purge(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |tx| outbox::purge(tx, before)).await
    }
}
