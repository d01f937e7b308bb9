//! Identifier newtypes. Every id is a UUID on the wire and in storage; the types keep a
//! user id from being passed where a group id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A time-ordered (version 7) UUID: the unix millisecond of `at`, then 74 bits from `rng`.
/// For the keys of rows written on every sign-in (flows, sessions, access token records,
/// token families): keys made close in time sort together, so their index takes new rows
/// on its last page instead of a random page each. The id tells when it was made, as the
/// row's own timestamps (or a token's `iat`) do.
pub fn time_ordered_uuid(at: chrono::DateTime<chrono::Utc>, rng: &mut impl rand::RngCore) -> Uuid {
    let mut bytes = [0u8; 10];
    rng.fill_bytes(&mut bytes);
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random (v4) id.
            pub fn random(rng: &mut impl rand::RngCore) -> Self {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }

            /// A new time-ordered (v7) id: the unix milliseconds of `at`, then 74 bits
            /// from `rng` (as many as a v4 id has, less 48). For rows written on every
            /// sign-in: ids made close in time sort together, so the index on the id
            /// takes new rows on its last page instead of on a random page each (one
            /// page written per commit, not one per row). The id tells when it was
            /// made, as the row's own timestamps do.
            pub fn time_ordered(
                at: chrono::DateTime<chrono::Utc>,
                rng: &mut impl rand::RngCore,
            ) -> Self {
                Self(time_ordered_uuid(at, rng))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A tenant (organisation).
    TenantId
);
id_type!(
    /// A user of a tenant's directory.
    UserId
);
id_type!(
    /// A group of a tenant's directory.
    GroupId
);
id_type!(
    /// A stored sign-in flow.
    FlowId
);
id_type!(
    /// A message in the outbox.
    MessageId
);
id_type!(
    /// A session issued after a successful sign-in.
    SessionId
);

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use rand::rngs::OsRng;

    use super::*;

    #[test]
    fn time_ordered_ids_sort_by_their_time_and_keep_74_random_bits() {
        let t = |ms: i64| Utc.timestamp_millis_opt(ms).single().unwrap();
        let (a, b) = (
            FlowId::time_ordered(t(1_765_000_000_000), &mut OsRng),
            FlowId::time_ordered(t(1_765_000_000_001), &mut OsRng),
        );
        assert!(a < b, "{a} sorts before {b}");
        assert!(a.to_string() < b.to_string(), "and so does its text");
        assert_eq!(a.0.get_version_num(), 7);
        let (secs, nanos) = a.0.get_timestamp().unwrap().to_unix();
        assert_eq!((secs, nanos), (1_765_000_000, 0));
        // The same millisecond: different ids (the random part), same leading 48 bits.
        let (c, d) = (
            SessionId::time_ordered(t(1_765_000_000_000), &mut OsRng),
            SessionId::time_ordered(t(1_765_000_000_000), &mut OsRng),
        );
        assert_ne!(c, d);
        assert_eq!(c.0.as_bytes()[..6], d.0.as_bytes()[..6]);
        // As text (a `jti`, a token family): the same order; the version is 7.
        let (e, f) = (
            time_ordered_uuid(t(1_765_000_000_000), &mut OsRng),
            time_ordered_uuid(t(1_765_000_000_001), &mut OsRng),
        );
        assert!(e.to_string() < f.to_string());
        assert_eq!(e.get_version_num(), 7);
        assert_ne!(c.0.as_bytes()[6..], d.0.as_bytes()[6..]);
    }
}
