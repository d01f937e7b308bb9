//! textid's OpenID Connect and OAuth 2.0 protocol pieces, for the server to wire into its
//! endpoints: signing keys and their sealed storage form, the JWKS, ID and access tokens,
//! PKCE, clients and their authentication, discovery, and OAuth errors (DESIGN §2, §3).
//!
//! Invariants of this crate: no I/O, no HTTP, no database. Time is an argument
//! (`now: DateTime<Utc>`), randomness an `RngCore + CryptoRng` argument (or the operating
//! system's, where named: [`kek::KeyEncryptionKey::seal`]). Secrets sit in redacting wrappers.
//!
//! Security rules enforced here (DESIGN §3): no `alg=none` and no HMAC tokens; S256 PKCE
//! only; byte-exact redirect URI matching; signing keys sealed at rest.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use textid_oidc::token::{self, amr, Expected, IdTokenClaims, TokenType};
//! use textid_oidc::{jwks, Algorithm, KeyEncryptionKey, SigningKey};
//!
//! let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! let mut rng = rand::rngs::OsRng;
//!
//! // Rotation job: generate, seal for the database, publish.
//! let kek = KeyEncryptionKey::generate(&mut rng);
//! let key = SigningKey::generate(Algorithm::ES256, &mut rng, now)?;
//! let stored = key.to_sealed(&kek); // -> database row
//! let key = SigningKey::from_sealed(&stored, &kek)?; // any node, at start-up
//! let published = jwks::document(&[&key]); // GET {base}/discovery/v2.0/keys
//!
//! // Token endpoint: sign an ID token.
//! let claims = IdTokenClaims {
//!     iss: "https://id.example/contoso/v2.0".into(),
//!     sub: "0b8f5c5e-2f1c-4f57-9d3a-6f1d1b1e2c3d".into(),
//!     aud: "app-1".into(),
//!     exp: now.timestamp() + 3600,
//!     iat: now.timestamp(),
//!     auth_time: now.timestamp(),
//!     nonce: Some("n-0S6_WzA2Mj".into()),
//!     tid: "contoso".into(),
//!     phone_number: Some("+14255550101".into()),
//!     phone_number_verified: Some(true),
//!     amr: vec![amr::SMS.into()],
//!     name: None,
//!     preferred_username: None,
//!     sid: None,
//! };
//! let id_token = token::sign(&key, &claims, TokenType::IdToken)?;
//!
//! // Relying party: verify with the published JWKS only.
//! let keys = jwks::parse(&published)?;
//! let expected = Expected {
//!     issuer: "https://id.example/contoso/v2.0",
//!     audience: Some("app-1"),
//!     typ: TokenType::IdToken,
//! };
//! let verified: IdTokenClaims = token::verify(&id_token, &keys, &expected, now)?;
//! assert_eq!(verified, claims);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod client;
pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod jwks;
pub mod kek;
pub mod keys;
pub mod origin;
pub mod pkce;
pub mod secret;
pub mod token;

pub use client::{ClientSecret, ClientSecretHash, ClientType, RedirectUri};
pub use client_auth::BasicCredentials;
pub use error::{ErrorCode, OAuthError};
pub use kek::KeyEncryptionKey;
pub use keys::{Algorithm, KeyError, SigningKey, StoredKey, VerificationKey};
pub use origin::{WebOrigin, WebOriginError};
pub use token::{AccessTokenClaims, Expected, IdTokenClaims, TokenError, TokenType};
