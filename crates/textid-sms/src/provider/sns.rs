//! Amazon SNS: SMS by `Publish` to a phone number (issue #18).
//!
//! - `POST {endpoint}/` (default `https://sns.{region}.amazonaws.com/`), form `Action=Publish`,
//!   `Version=2010-03-31`, `PhoneNumber` (E.164), `Message`, and message attributes
//!   `AWS.SNS.SMS.SMSType=Transactional` (sign-in codes are time-critical: AWS routes them
//!   for reliability, not cost), `AWS.SNS.SMS.SenderID` and `AWS.MM.SMS.OriginationNumber`
//!   when configured. Signed with AWS Signature Version 4 ([`super::sigv4`]) over `host`,
//!   `x-amz-date` and `content-type`, and with temporary credentials also
//!   `x-amz-security-token` (the session token, sent in `X-Amz-Security-Token`).
//! - Credentials ([`super::aws_credentials`]): fixed keys (textid's or `AWS_ACCESS_KEY_ID` &
//!   co., with an optional session token), ECS/EKS container credentials, or the EC2
//!   instance profile (IMDSv2); temporary ones are cached and refreshed 5 minutes before
//!   they expire. Credentials that cannot be had are a transient failure.
//! - `200` `<PublishResponse><PublishResult><MessageId>…` is accepted and keeps the id.
//! - Errors (SNS's XML `<ErrorResponse><Error><Code>`): `InvalidParameter` and
//!   `InvalidParameterValue` (SNS's answer to an invalid phone number) are permanent; every
//!   other code — `Throttling`/`Throttled`, `InternalError`, and the credential and
//!   permission errors (`InvalidClientTokenId`, `SignatureDoesNotMatch`, `AuthorizationError`…)
//!   — and every 5xx, timeout or connection failure is transient, so a message
//!   fails over or waits for the operator's fix.
//! - Receipts: SNS has no per-message delivery callback. Its delivery status logs go to
//!   CloudWatch Logs, which textid does not read: SNS messages keep their id but get no
//!   receipt.
//! - Voice: SNS does not call; a voice message is a transient refusal (the router moves on).
//!
//! The secret access key, the session token and the message text are never logged or put
//! into an error.

use std::sync::Arc;
use std::time::Duration;

use textid_core::clock::Clock;

use super::aws_credentials::{CredentialCache, CredentialSource, Credentials};
use super::{http, sigv4};
use crate::{Channel, Delivery, OutgoingMessage, Provider, SendError};

/// The provider's stable name.
pub const NAME: &str = "sns";
/// The SNS API version `Publish` is part of.
pub const API_VERSION: &str = "2010-03-31";
/// SNS error codes that mean the number is invalid.
pub const PERMANENT_CODES: &[&str] = &["InvalidParameter", "InvalidParameterValue"];

/// How textid reaches SNS.
#[derive(Debug, Clone)]
pub struct SnsConfig {
    /// The region, e.g. `eu-west-1`; it is part of the signature.
    pub region: String,
    /// Where the credentials of an IAM user or role allowed `sns:Publish` come from.
    pub credentials: CredentialSource,
    /// The API origin; `None`: `https://sns.{region}.amazonaws.com` (set it for a VPC
    /// endpoint or a test double).
    pub endpoint: Option<String>,
    /// `AWS.SNS.SMS.SenderID`: an alphanumeric sender where the destination allows one.
    pub sender_id: Option<String>,
    /// `AWS.MM.SMS.OriginationNumber`: an origination number (E.164) of the account.
    pub origination_number: Option<String>,
    /// The limit of one try.
    pub timeout: Duration,
}

impl SnsConfig {
    /// The API origin in effect.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone().map_or_else(
            || format!("https://sns.{}.amazonaws.com", self.region),
            |e| e.trim_end_matches('/').to_owned(),
        )
    }
}

/// Why an [`SnsConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnsConfigError {
    /// The region or a fixed access key id is empty or malformed.
    #[error("sns needs a region like eu-west-1 and, with fixed keys, an access key id")]
    Missing,
    /// The endpoint is not http(s).
    #[error("sns endpoint must be an http:// or https:// URL")]
    Endpoint,
    /// The HTTP client could not be set up.
    #[error("could not set up the sns HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Publishes SMS through Amazon SNS.
pub struct SnsProvider {
    config: SnsConfig,
    endpoint: reqwest::Url,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    credentials: CredentialCache,
}

impl std::fmt::Debug for SnsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsProvider")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.config.region)
            .field("credentials", &self.config.credentials.describe())
            .finish_non_exhaustive()
    }
}

impl SnsProvider {
    /// Checks `config` and builds the HTTP client; `clock` dates the signatures.
    pub fn new(config: SnsConfig, clock: Arc<dyn Clock>) -> Result<Self, SnsConfigError> {
        let region_ok = !config.region.is_empty()
            && config
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let key_missing = matches!(&config.credentials, CredentialSource::Fixed(c) if c.access_key_id.trim().is_empty());
        if !region_ok || key_missing {
            return Err(SnsConfigError::Missing);
        }
        let endpoint: reqwest::Url = config
            .endpoint()
            .parse()
            .map_err(|_| SnsConfigError::Endpoint)?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(SnsConfigError::Endpoint);
        }
        let client = http::client(config.timeout).map_err(SnsConfigError::Client)?;
        let credentials = CredentialCache::new(
            config.credentials.clone(),
            client.clone(),
            clock.clone(),
            config.timeout,
        );
        Ok(Self {
            config,
            endpoint,
            clock,
            client,
            credentials,
        })
    }

    /// Wraps this provider for sharing.
    pub fn shared(self) -> Arc<dyn Provider> {
        Arc::new(self)
    }

    /// The `Publish` form for `message`.
    pub fn form(&self, message: &OutgoingMessage) -> Vec<(String, String)> {
        publish_form(&self.config, &message.to, message.body.expose())
    }

    /// The `Host` header reqwest sends: the host, and the port when it is not the
    /// scheme's default.
    fn host(&self) -> String {
        let host = self.endpoint.host_str().unwrap_or_default();
        match self.endpoint.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }
}

impl SnsProvider {
    /// The `Publish` request with `body`, signed now with `credentials` (SigV4 over
    /// `content-type`, `host`, `x-amz-date`, and `x-amz-security-token` with a session token).
    fn signed(&self, credentials: &Credentials, body: String) -> reqwest::RequestBuilder {
        let amz_date = self.clock.now().format("%Y%m%dT%H%M%SZ").to_string();
        let host = self.host();
        let token = credentials
            .session_token
            .as_ref()
            .map(|t| t.expose().as_str());
        let mut headers = vec![
            ("content-type", CONTENT_TYPE),
            ("host", host.as_str()),
            ("x-amz-date", amz_date.as_str()),
        ];
        if let Some(token) = token {
            headers.push(("x-amz-security-token", token));
        }
        let authorization = sigv4::authorization(
            &sigv4::Scope {
                access_key_id: &credentials.access_key_id,
                secret_access_key: credentials.secret_access_key.expose(),
                region: &self.config.region,
                service: "sns",
            },
            &sigv4::Request {
                method: "POST",
                path: self.endpoint.path(),
                query: self.endpoint.query().unwrap_or(""),
                headers: &headers,
                body: body.as_bytes(),
            },
            &amz_date,
        );
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header("x-amz-date", &amz_date)
            .header(reqwest::header::AUTHORIZATION, authorization);
        if let Some(token) = token {
            request = request.header("x-amz-security-token", token);
        }
        request.body(body)
    }
}

/// `Publish`'s form fields, in this order: action, version, number, text, attributes.
pub fn publish_form(config: &SnsConfig, to: &str, text: &str) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = vec![
        ("Action".into(), "Publish".into()),
        ("Version".into(), API_VERSION.into()),
        ("PhoneNumber".into(), to.into()),
        ("Message".into(), text.into()),
    ];
    let mut attributes = vec![("AWS.SNS.SMS.SMSType", "Transactional")];
    if let Some(id) = &config.sender_id {
        attributes.push(("AWS.SNS.SMS.SenderID", id));
    }
    if let Some(number) = &config.origination_number {
        attributes.push(("AWS.MM.SMS.OriginationNumber", number));
    }
    for (n, (name, value)) in attributes.into_iter().enumerate() {
        let entry = format!("MessageAttributes.entry.{}", n + 1);
        form.push((format!("{entry}.Name"), name.into()));
        form.push((format!("{entry}.Value.DataType"), "String".into()));
        form.push((format!("{entry}.Value.StringValue"), value.into()));
    }
    form
}

/// The content type SNS gets (and that is signed).
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

#[async_trait::async_trait]
impl Provider for SnsProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Delivery, SendError> {
        if message.channel == Channel::Voice {
            return Err(SendError::Transient(
                "sns cannot place voice calls; route voice to another provider".into(),
            ));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.form(message))
            .finish();
        let credentials = self
            .credentials
            .get()
            .await
            .map_err(|e| SendError::Transient(format!("sns: no AWS credentials: {e}")))?;
        let response = self
            .signed(&credentials, body)
            .send()
            .await
            .map_err(|e| http::transport_error(NAME, self.config.timeout, e))?;
        let status = response.status();
        let answer = String::from_utf8_lossy(&http::body(response).await).into_owned();
        if status.is_success() {
            return Ok(Delivery {
                provider_message_id: element(&answer, "MessageId").map(str::to_owned),
                provider: None,
            });
        }
        Err(classify(status, &answer))
    }
}

/// A failed answer: a documented invalid-number code is permanent, every other is
/// transient.
pub fn classify(status: reqwest::StatusCode, answer: &str) -> SendError {
    let code = element(answer, "Code");
    // SNS's message names the parameter ("Invalid parameter: PhoneNumber…"), never the text.
    let message = element(answer, "Message").unwrap_or("");
    let text = match code {
        Some(c) => format!("sns answered {status} ({c}: {message})"),
        None => format!("sns answered {status}"),
    };
    match code {
        Some(c) if status.is_client_error() && PERMANENT_CODES.contains(&c) => {
            SendError::Permanent(text)
        }
        _ => SendError::Transient(text),
    }
}

/// The text of the first `<name>` element of an XML answer (SNS's answers have no
/// attributes or CDATA there).
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    const ERROR: &str = "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>";

    #[test]
    fn invalid_parameters_are_permanent_and_everything_else_transient() {
        let err = |status: u16, code: &str| {
            classify(
                StatusCode::from_u16(status).unwrap(),
                &ERROR.replace("{code}", code),
            )
        };
        assert!(!err(400, "InvalidParameter").is_transient());
        assert!(!err(400, "InvalidParameterValue").is_transient());
        for (status, code) in [
            (400, "Throttling"),
            (429, "Throttled"),
            (403, "InvalidClientTokenId"),
            (403, "SignatureDoesNotMatch"),
            (403, "AuthorizationError"),
            (500, "InternalError"),
            (503, "ServiceUnavailable"),
        ] {
            assert!(err(status, code).is_transient(), "{code}");
        }
        assert!(classify(StatusCode::BAD_GATEWAY, "<html/>").is_transient());
    }
}
