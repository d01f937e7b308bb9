//! Groups: policies target them.

use crate::ids::{GroupId, TenantId};

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its id.
    pub id: GroupId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its display name.
    pub display_name: String,
}
