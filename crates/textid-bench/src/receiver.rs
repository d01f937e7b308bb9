//! The bench's own SMS webhook receiver: the server's webhook provider POSTs each message
//! here; the code goes to the client task waiting for that number through a oneshot
//! channel. Kept light: one small JSON parse, one short mutex hold, answer 200.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tokio::sync::oneshot;

/// A delivered code and when it arrived.
#[derive(Debug)]
pub struct Delivered {
    /// The code at the end of the text (`... #123456`).
    pub code: String,
    /// When the receiver got it.
    pub at: Instant,
}

/// Waiting clients by E.164 number.
#[derive(Default)]
pub struct Waiters {
    map: Mutex<HashMap<String, oneshot::Sender<Delivered>>>,
    /// Messages for which no client was waiting (late or foreign).
    pub unexpected: AtomicU64,
    /// Messages whose body held no code.
    pub malformed: AtomicU64,
}

impl Waiters {
    /// Registers interest in the next message to `number`; a previous waiter for the same
    /// number is dropped (its receiver then sees a closed channel).
    pub fn wait_for(&self, number: &str) -> oneshot::Receiver<Delivered> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(number.to_string(), tx);
        rx
    }

    /// Forgets the waiter for `number` (after a failed start or a timeout).
    pub fn forget(&self, number: &str) {
        self.lock().remove(number);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Delivered>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn deliver(&self, to: &str, code: String) {
        let at = Instant::now();
        let waiter = self.lock().remove(to);
        let delivered = waiter.is_some_and(|tx| tx.send(Delivered { code, at }).is_ok());
        if !delivered {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[derive(Deserialize)]
struct Message {
    to: String,
    body: String,
}

/// The code at the end of an SMS text: `... @host #123456`.
pub fn code_of(body: &str) -> Option<&str> {
    let code = body.trim_end().rsplit('#').next()?;
    (!code.is_empty() && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

async fn sms(State(waiters): State<Arc<Waiters>>, body: Bytes) -> StatusCode {
    // Always 200: a 4xx would fail the message for good and a 5xx make the server retry,
    // either of which would distort what is measured.
    match serde_json::from_slice::<Message>(&body) {
        Ok(m) => match code_of(&m.body) {
            Some(code) => waiters.deliver(&m.to, code.to_string()),
            None => {
                waiters.malformed.fetch_add(1, Ordering::Relaxed);
            }
        },
        Err(_) => {
            waiters.malformed.fetch_add(1, Ordering::Relaxed);
        }
    }
    StatusCode::OK
}

/// Binds `addr`, serves `POST /sms` in the background, returns the bound address.
pub async fn start(addr: SocketAddr, waiters: Arc<Waiters>) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the webhook receiver on {addr}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/sms", axum::routing::post(sms))
        .with_state(waiters);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("webhook receiver stopped: {e}");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_ends_the_text() {
        assert_eq!(
            code_of("123456 is your sign-in code.\n\n@id.contoso.example #123456"),
            Some("123456")
        );
        assert_eq!(code_of("x @127.0.0.1 #004200\n"), Some("004200"));
        assert_eq!(code_of("no code here"), None);
        assert_eq!(code_of("trailing #"), None);
    }

    #[test]
    fn a_message_reaches_the_waiter_for_its_number_only() {
        let w = Waiters::default();
        let mut a = w.wait_for("+14255550101");
        let mut b = w.wait_for("+14255550102");
        w.deliver("+14255550102", "111111".into());
        assert_eq!(b.try_recv().unwrap().code, "111111");
        assert!(a.try_recv().is_err());
        w.deliver("+14255550199", "222222".into());
        assert_eq!(w.unexpected.load(Ordering::Relaxed), 1);
        w.forget("+14255550101");
        w.deliver("+14255550101", "333333".into());
        assert_eq!(w.unexpected.load(Ordering::Relaxed), 2);
    }
}
