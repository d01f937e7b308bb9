//! The HTTP carriers (Twilio, Vonage, SNS) and the router against loopback servers written
//! here, each of which checks the exact request its carrier documents and answers with the
//! carrier's documented success and error bodies (STYLE: provider contracts).
#![allow(
    clippy::unwrap_used,
    reason = "helpers of a test binary, where a panic is a failed test; \
              allow-unwrap-in-tests covers only #[test] functions"
)]

mod aws_credentials;
mod routing;
mod sns;
mod twilio;
mod vonage;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use textid_core::secret::Secret;
use textid_sms::{Channel, MessageKind, OutgoingMessage};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub(crate) const BODY: &str =
    "123456 is your sign-in code. It expires in 5 minutes. Do not share it.\n\n\
                        @login.example.com #123456";

/// One request as the carrier saw it.
#[derive(Debug)]
pub(crate) struct Recorded {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    /// The form body as pairs, in order.
    pub(crate) fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What the carrier answers.
#[derive(Clone)]
pub(crate) enum Answer {
    Status(StatusCode, &'static str),
    /// Keep the request open and never answer.
    Never,
}

#[derive(Clone)]
struct Carrier {
    answer: Answer,
    requests: mpsc::UnboundedSender<Recorded>,
}

async fn record(
    State(carrier): State<Carrier>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
    };
    carrier.requests.send(recorded).unwrap();
    match carrier.answer {
        Answer::Status(status, body) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Answer::Never => std::future::pending().await,
    }
}

/// Starts a carrier on a free loopback port; returns its origin and the requests it gets.
pub(crate) async fn spawn_carrier(answer: Answer) -> (String, mpsc::UnboundedReceiver<Recorded>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(record).with_state(Carrier {
        answer,
        requests: tx,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rx)
}

pub(crate) fn message(to: &str, channel: Channel) -> OutgoingMessage {
    OutgoingMessage {
        id: "0192f0c4-7d1e-7a3b-9c2d-4e5f60718293".into(),
        to: to.into(),
        body: Secret::new(BODY.into()),
        channel,
        tenant: "default".into(),
        kind: MessageKind::SignInCode,
        locale: "en".into(),
    }
}

/// `Basic base64(user:password)`, computed here independently of reqwest.
pub(crate) fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
