//! Identifier newtypes. Every id is a UUID on the wire and in storage; the types keep a
//! user id from being passed where a group id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
