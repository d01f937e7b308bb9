//! AWS credentials for the SNS provider (issue #18): the part of the AWS SDKs' default
//! credential chain that matters on a server, and a cache that refreshes temporary
//! credentials before they expire.
//!
//! The chain, first match wins ([`CredentialSource::from_env`] does steps 2–4; textid's own
//! keys, step 1, are read by the configuration):
//!
//! 1. textid's `sms_sns_access_key_id`, `sms_sns_secret_access_key` and optional
//!    `sms_sns_session_token`.
//! 2. The environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional
//!    `AWS_SESSION_TOKEN`.
//! 3. ECS and EKS container credentials: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (a path on
//!    `http://169.254.170.2`, ECS task roles) or `AWS_CONTAINER_CREDENTIALS_FULL_URI` (EKS Pod
//!    Identity, or a local endpoint), with the `Authorization` header from
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read again for every fetch: EKS rotates it) or
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN`. `GET` answers `{"AccessKeyId", "SecretAccessKey",
//!    "Token", "Expiration"}`. A full URI over plain `http` must name a loopback address or
//!    the ECS/EKS link-local agents (169.254.170.2, 169.254.170.23, fd00:ec2::23), as in the
//!    AWS SDKs: the token must not travel to an arbitrary host in clear text.
//! 4. The EC2 instance profile through IMDSv2, unless `AWS_EC2_METADATA_DISABLED=true`:
//!    `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: 21600`, then, with
//!    the token in `X-aws-ec2-metadata-token`, `GET /latest/meta-data/iam/security-credentials/`
//!    (the role's name) and `GET …/security-credentials/{role}` (the same JSON as above, with
//!    `"Code": "Success"`). The endpoint is `http://169.254.169.254`, or
//!    `AWS_EC2_METADATA_SERVICE_ENDPOINT`. IMDSv1 (no token) is not used.
//!
//! Not read: `~/.aws/credentials` and `config` profiles, SSO, `credential_process`, web
//! identity token files (`AWS_WEB_IDENTITY_TOKEN_FILE`, which needs STS). Written here rather
//! than with `aws-config`: that crate brings the AWS SDK's runtime (`aws-smithy-*`, hyper 0.14
//! or a second hyper 1 stack, `aws-sdk-sts`, `aws-sdk-sso`) for three HTTP requests.
//!
//! [`CredentialCache`] keeps fetched credentials and fetches new ones once they are within
//! [`REFRESH_BEFORE`] of their `Expiration`. One fetch at a time: callers that find the cache
//! stale wait on one lock, and the first fetches for all. When a refresh fails while the old
//! credentials have not yet expired, they are used (and the failure logged).
//!
//! Secret access keys, session tokens and the container token are never logged or put into
//! an error; neither are the endpoints' answers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use textid_core::clock::Clock;
use textid_core::secret::Secret;

use super::http;

/// How long before their expiry temporary credentials are replaced.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);
/// The ECS agent that serves `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
pub const ECS_CONTAINER_HOST: &str = "http://169.254.170.2";
/// The EC2 instance metadata service.
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// The lifetime asked for an IMDSv2 session token (the AWS SDKs' value, six hours).
pub const IMDS_TOKEN_TTL_SECONDS: &str = "21600";

/// A set of AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (`AKIA…` long-term, `ASIA…` temporary).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret<String>,
    /// The session token of temporary credentials, sent as `X-Amz-Security-Token`.
    pub session_token: Option<Secret<String>>,
    /// When temporary credentials expire; `None`: they do not.
    pub expiration: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.is_some())
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Long-term (or externally managed) keys, with an optional session token.
    pub fn fixed(
        access_key_id: String,
        secret_access_key: Secret<String>,
        session_token: Option<Secret<String>>,
    ) -> Self {
        Self {
            access_key_id,
            secret_access_key,
            session_token,
            expiration: None,
        }
    }

    /// Whether these credentials are still good to use at `now` without a refresh.
    pub fn fresh_at(&self, now: DateTime<Utc>) -> bool {
        let margin = chrono::Duration::from_std(REFRESH_BEFORE).unwrap_or_default();
        self.expiration.is_none_or(|exp| now < exp - margin)
    }

    fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.expiration.is_none_or(|exp| now < exp)
    }
}

/// The container endpoint's `Authorization` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerToken {
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    Value(Secret<String>),
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read for every fetch.
    File(PathBuf),
}

/// Where the credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Fixed keys: textid's, or the `AWS_*` environment variables.
    Fixed(Credentials),
    /// An ECS or EKS container credentials endpoint.
    Container {
        /// The full URL.
        url: String,
        /// The `Authorization` header, when the endpoint wants one.
        token: Option<ContainerToken>,
    },
    /// The EC2 instance profile, through IMDSv2 at `endpoint`.
    InstanceProfile {
        /// The metadata service origin.
        endpoint: String,
    },
}

/// Why no credentials could be had. Never contains a secret or an endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// A variable of the chain is set wrongly.
    #[error("{0}")]
    Environment(String),
    /// The endpoint could not be asked or answered badly.
    #[error("{source_name}: {reason}")]
    Fetch {
        /// `container credentials` or `instance profile (IMDSv2)`.
        source_name: &'static str,
        /// What went wrong.
        reason: String,
    },
}

impl CredentialSource {
    /// Steps 2–4 of the chain (see the module docs), from `env` (the process environment in
    /// production; a map in tests).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, CredentialError> {
        let var = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => {
                return Ok(Self::Fixed(Credentials::fixed(
                    id,
                    Secret::new(secret),
                    var("AWS_SESSION_TOKEN").map(Secret::new),
                )));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(CredentialError::Environment(
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both or neither"
                        .into(),
                ));
            }
            (None, None) => {}
        }
        let token = || {
            var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
                .map(|f| ContainerToken::File(PathBuf::from(f)))
                .or_else(|| {
                    var("AWS_CONTAINER_AUTHORIZATION_TOKEN")
                        .map(|t| ContainerToken::Value(Secret::new(t)))
                })
        };
        if let Some(relative) = var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            let path = if relative.starts_with('/') {
                relative
            } else {
                format!("/{relative}")
            };
            return Ok(Self::Container {
                url: format!("{ECS_CONTAINER_HOST}{path}"),
                token: token(),
            });
        }
        if let Some(full) = var("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            check_full_uri(&full)?;
            return Ok(Self::Container {
                url: full,
                token: token(),
            });
        }
        if var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err(CredentialError::Environment(
                "no AWS credentials: set sms_sns_access_key_id and sms_sns_secret_access_key, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_CONTAINER_CREDENTIALS_FULL_URI (the instance profile is off: AWS_EC2_METADATA_DISABLED=true)".into(),
            ));
        }
        let endpoint = var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or_else(|| DEFAULT_IMDS_ENDPOINT.into());
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(CredentialError::Environment(format!(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT: '{endpoint}' must be an http:// or https:// URL"
            )));
        }
        Ok(Self::InstanceProfile {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        })
    }

    /// How `config check` and logs name the source (never a secret).
    pub fn describe(&self) -> String {
        match self {
            Self::Fixed(c) => c.access_key_id.clone(),
            Self::Container { .. } => "<container credentials>".into(),
            Self::InstanceProfile { .. } => "<instance profile>".into(),
        }
    }
}

/// A full container URI is https, or http to loopback or the ECS/EKS agents.
fn check_full_uri(uri: &str) -> Result<(), CredentialError> {
    let bad = |why: &str| {
        CredentialError::Environment(format!("AWS_CONTAINER_CREDENTIALS_FULL_URI: {why}"))
    };
    let url = url::Url::parse(uri).map_err(|_| bad("not a URL"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let allowed = match url.host() {
                Some(url::Host::Ipv4(ip)) => {
                    ip.is_loopback()
                        || ip == std::net::Ipv4Addr::new(169, 254, 170, 2)
                        || ip == std::net::Ipv4Addr::new(169, 254, 170, 23)
                }
                Some(url::Host::Ipv6(ip)) => {
                    ip.is_loopback()
                        || ip == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)
                }
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if allowed {
                Ok(())
            } else {
                Err(bad("over http it must name a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23; use https otherwise"))
            }
        }
        _ => Err(bad("must be an http:// or https:// URL")),
    }
}

/// The JSON both endpoints answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    code: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    expiration: Option<DateTime<Utc>>,
}

/// Credentials from a [`CredentialSource`], cached and refreshed before they expire.
pub struct CredentialCache {
    source: CredentialSource,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("source", &self.source.describe())
            .finish_non_exhaustive()
    }
}

impl CredentialCache {
    /// A cache over `source`; `client` (with `timeout` per request) asks the endpoints,
    /// `clock` decides freshness.
    pub fn new(
        source: CredentialSource,
        client: reqwest::Client,
        clock: Arc<dyn Clock>,
        timeout: Duration,
    ) -> Self {
        Self {
            source,
            client,
            clock,
            timeout,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// Credentials good to sign with now.
    pub async fn get(&self) -> Result<Credentials, CredentialError> {
        if let CredentialSource::Fixed(c) = &self.source {
            return Ok(c.clone());
        }
        // Held across the fetch: one refresh at a time, and the waiters get its result.
        let mut cached = self.cached.lock().await;
        let now = self.clock.now();
        if let Some(c) = cached.as_ref().filter(|c| c.fresh_at(now)) {
            return Ok(c.clone());
        }
        match self.fetch().await {
            Ok(fresh) => {
                tracing::info!(source = %self.source.describe(), access_key_id = %fresh.access_key_id, expiration = ?fresh.expiration, "sns: credentials fetched");
                *cached = Some(fresh.clone());
                Ok(fresh)
            }
            Err(e) => match cached.as_ref().filter(|c| c.valid_at(now)) {
                Some(old) => {
                    tracing::warn!(error = %e, "sns: credentials not refreshed; the current ones are used until they expire");
                    Ok(old.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn fetch(&self) -> Result<Credentials, CredentialError> {
        match &self.source {
            CredentialSource::Fixed(c) => Ok(c.clone()),
            CredentialSource::Container { url, token } => self.container(url, token.as_ref()).await,
            CredentialSource::InstanceProfile { endpoint } => self.imds(endpoint).await,
        }
    }

    async fn container(
        &self,
        url: &str,
        token: Option<&ContainerToken>,
    ) -> Result<Credentials, CredentialError> {
        const NAME: &str = "container credentials";
        let fail = |reason: String| CredentialError::Fetch {
            source_name: NAME,
            reason,
        };
        let mut request = self.client.get(url);
        match token {
            Some(ContainerToken::Value(t)) => {
                request = request.header(reqwest::header::AUTHORIZATION, t.expose().as_str());
            }
            Some(ContainerToken::File(path)) => {
                let t = std::fs::read_to_string(path).map_err(|e| {
                    fail(format!(
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {}: {e}",
                        path.display()
                    ))
                })?;
                request = request.header(reqwest::header::AUTHORIZATION, t.trim());
            }
            None => {}
        }
        let body = self.ask(NAME, request).await?;
        parse(NAME, &body)
    }

    async fn imds(&self, endpoint: &str) -> Result<Credentials, CredentialError> {
        const NAME: &str = "instance profile (IMDSv2)";
        let token = self
            .ask(
                NAME,
                self.client
                    .put(format!("{endpoint}/latest/api/token"))
                    .header(
                        "x-aws-ec2-metadata-token-ttl-seconds",
                        IMDS_TOKEN_TTL_SECONDS,
                    ),
            )
            .await?;
        let token = String::from_utf8_lossy(&token).trim().to_owned();
        let base = format!("{endpoint}/latest/meta-data/iam/security-credentials/");
        let roles = self
            .ask(
                NAME,
                self.client
                    .get(&base)
                    .header("x-aws-ec2-metadata-token", &token),
            )
            .await?;
        let roles = String::from_utf8_lossy(&roles).into_owned();
        let Some(role) = roles.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return Err(CredentialError::Fetch {
                source_name: NAME,
                reason: "the instance has no IAM role (attach an instance profile)".into(),
            });
        };
        let body = self
            .ask(
                NAME,
                self.client
                    .get(format!("{base}{}", super::sigv4::encode(role)))
                    .header("x-aws-ec2-metadata-token", &token),
            )
            .await?;
        parse(NAME, &body)
    }

    /// Sends `request`; the body of a 2xx answer.
    async fn ask(
        &self,
        name: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, CredentialError> {
        let response = request.send().await.map_err(|e| {
            // Never the URL: a relative URI is itself a credential of the task.
            let e = e.without_url();
            let reason = if e.is_timeout() {
                format!("no answer within {:?}", self.timeout)
            } else {
                format!("request failed: {}", http::chain(&e))
            };
            CredentialError::Fetch {
                source_name: name,
                reason,
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(CredentialError::Fetch {
                source_name: name,
                reason: format!("answered {status}"),
            });
        }
        Ok(http::body(response).await)
    }
}

fn parse(name: &'static str, body: &[u8]) -> Result<Credentials, CredentialError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|_| CredentialError::Fetch {
        source_name: name,
        reason: "the answer is not the credentials JSON (AccessKeyId, SecretAccessKey, Token, Expiration)".into(),
    })?;
    if let Some(code) = answer.code.as_deref().filter(|c| *c != "Success") {
        return Err(CredentialError::Fetch {
            source_name: name,
            reason: format!("Code {code}"),
        });
    }
    Ok(Credentials {
        access_key_id: answer.access_key_id,
        secret_access_key: Secret::new(answer.secret_access_key),
        session_token: answer.token.map(Secret::new),
        expiration: answer.expiration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn source(vars: &[(&str, &str)]) -> Result<CredentialSource, CredentialError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        CredentialSource::from_env(&|k| map.get(k).cloned())
    }

    #[test]
    fn environment_keys_come_first_with_their_session_token() {
        let s = source(&[
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_SESSION_TOKEN", "t"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:1/creds",
            ),
        ])
        .unwrap();
        assert_eq!(
            s,
            CredentialSource::Fixed(Credentials::fixed(
                "ASIAEXAMPLE".into(),
                Secret::new("s".into()),
                Some(Secret::new("t".into()))
            ))
        );
        assert!(source(&[("AWS_ACCESS_KEY_ID", "A")]).is_err());
    }

    #[test]
    fn the_relative_container_uri_goes_to_the_ecs_agent_before_a_full_one() {
        let s = source(&[
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/abc",
            ),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:1/creds",
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"),
        ])
        .unwrap();
        assert_eq!(
            s,
            CredentialSource::Container {
                url: "http://169.254.170.2/v2/credentials/abc".into(),
                token: Some(ContainerToken::Value(Secret::new("tok".into()))),
            }
        );
    }

    #[test]
    fn a_full_container_uri_over_http_must_stay_on_the_host_or_the_agents() {
        for ok in [
            "http://127.0.0.1:8080/creds",
            "http://localhost/creds",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "http://[::1]:9/c",
            "https://creds.example.com/c",
        ] {
            assert!(
                source(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", ok)]).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://creds.example.com/c",
            "http://10.0.0.1/c",
            "ftp://127.0.0.1/c",
        ] {
            let e = source(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", bad)]).unwrap_err();
            assert!(
                e.to_string().contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
                "{e}"
            );
        }
        let s = source(&[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/var/run/token"),
        ])
        .unwrap();
        assert!(matches!(
            s,
            CredentialSource::Container {
                token: Some(ContainerToken::File(_)),
                ..
            }
        ));
    }

    #[test]
    fn the_instance_profile_is_last_and_can_be_turned_off() {
        assert_eq!(
            source(&[]).unwrap(),
            CredentialSource::InstanceProfile {
                endpoint: "http://169.254.169.254".into()
            }
        );
        assert_eq!(
            source(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/")]).unwrap(),
            CredentialSource::InstanceProfile {
                endpoint: "http://127.0.0.1:9".into()
            }
        );
        let e = source(&[("AWS_EC2_METADATA_DISABLED", "true")]).unwrap_err();
        assert!(e.to_string().contains("sms_sns_access_key_id"), "{e}");
    }

    #[test]
    fn credentials_are_fresh_until_five_minutes_before_expiry() {
        let exp: DateTime<Utc> = "2026-01-01T01:00:00Z".parse().unwrap();
        let c = Credentials {
            expiration: Some(exp),
            ..Credentials::fixed("A".into(), Secret::new("s".into()), None)
        };
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(c.fresh_at(at("2026-01-01T00:54:59Z")));
        assert!(!c.fresh_at(at("2026-01-01T00:55:00Z")));
        assert!(c.valid_at(at("2026-01-01T00:59:59Z")));
        assert!(!c.valid_at(exp));
    }

    #[test]
    fn nothing_secret_shows_in_debug() {
        let c = Credentials::fixed(
            "AKIA1".into(),
            Secret::new("hunter2".into()),
            Some(Secret::new("tok3n".into())),
        );
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok3n"),
            "{shown}"
        );
    }
}
