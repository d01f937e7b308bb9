//! What the HTTP carriers (Twilio, Vonage, SNS) share: one way to build the client, to
//! classify transport failures and answers, to read a bounded answer, and to turn a text
//! into something a voice reads out well.
//!
//! The classification is the outbox's contract (issue #18): 5xx, 429, timeouts and
//! connection failures are transient; so are authentication and configuration errors
//! (401, 403, 404 of an account path), so that messages wait for the operator's fix instead
//! of failing; a carrier's documented "this number is invalid" is permanent. Each provider
//! decides the last case from its own error codes.

use std::time::Duration;

use reqwest::StatusCode;

use crate::SendError;

/// The most of an answer read; carriers' answers are a few hundred bytes.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The client for one carrier: rustls, no proxy from the environment, no redirects,
/// `timeout` per try.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("textid/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A failure before an answer: never the URL (it may carry an account id) or the body.
pub(crate) fn transport_error(
    provider: &str,
    timeout: Duration,
    error: reqwest::Error,
) -> SendError {
    let error = error.without_url();
    if error.is_timeout() {
        SendError::Transient(format!("{provider} did not answer within {timeout:?}"))
    } else if error.is_builder() {
        SendError::Permanent(format!(
            "{provider}: could not build the request: {}",
            chain(&error)
        ))
    } else {
        SendError::Transient(format!("{provider} request failed: {}", chain(&error)))
    }
}

/// The class of an unsuccessful answer whose body named no error the provider knows:
/// everything but a plain 4xx (the request was wrong) is worth another try or provider.
pub(crate) fn by_status(provider: &str, status: StatusCode, detail: &str) -> SendError {
    let text = format!("{provider} answered {status}{detail}");
    match status.as_u16() {
        401 | 403 | 404 | 408 | 429 | 500..=599 => SendError::Transient(text),
        _ => SendError::Permanent(text),
    }
}

/// The answer's body, at most [`MAX_RESPONSE_BYTES`]; a longer or unreadable one is empty.
pub(crate) async fn body(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Vec::new();
        }
        body.extend_from_slice(&chunk);
    }
    body
}

/// A text to read out: the origin-bound last line (`@host #code`, for autofill only) is
/// dropped, and every run of digits is spaced (`123456` → `1 2 3 4 5 6`) so a voice reads
/// digits, not a number.
pub fn speakable(text: &str) -> String {
    let spoken: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('@'))
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut out = String::new();
    let mut prev_digit = false;
    for c in spoken.join(" ").chars() {
        if c.is_ascii_digit() && prev_digit {
            out.push(' ');
        }
        prev_digit = c.is_ascii_digit();
        out.push(c);
    }
    out
}

/// An error and its causes, `outer: inner: root`.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speakable_spaces_digits_and_drops_the_origin_line() {
        let text =
            "123456 is your sign-in code. It expires in 5 minutes.\n\n@login.example.com #123456";
        assert_eq!(
            speakable(text),
            "1 2 3 4 5 6 is your sign-in code. It expires in 5 minutes."
        );
    }

    #[test]
    fn statuses_without_a_known_error_are_classified() {
        for code in [401, 403, 404, 408, 429, 500, 503] {
            let s = StatusCode::from_u16(code).unwrap();
            assert!(by_status("x", s, "").is_transient(), "{code}");
        }
        for code in [400, 405, 413, 422] {
            let s = StatusCode::from_u16(code).unwrap();
            assert!(!by_status("x", s, "").is_transient(), "{code}");
        }
    }
}
