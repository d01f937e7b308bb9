//! Serving HTTP with every resource bounded, so that one slow or idle client never holds
//! the server (docs/design.md §3, "HTTP"; the slowloris family of attacks):
//!
//! - **connection cap**: at most [`HttpLimits::max_connections`] connections are open at
//!   once; further clients wait in the kernel's listen backlog until one closes (queued,
//!   never refused, and the process never runs out of file descriptors);
//! - **header-read timeout**: a request's head (request line and headers) must arrive
//!   within [`HttpLimits::header_read_timeout`] of its first byte (of the connection, for
//!   the first request);
//! - **idle timeout**: a kept-alive connection with no request under way is closed after
//!   [`HttpLimits::idle_timeout`]; this also bounds a client that stops reading its answer;
//! - **body-read timeout**: a request's body must arrive within
//!   [`HttpLimits::body_read_timeout`] of its head, else the answer is 408 `requestTimeout`;
//! - **graceful shutdown**: on the shutdown signal the listener closes at once, idle
//!   connections close, requests under way may finish until
//!   [`HttpLimits::shutdown_deadline`], then every connection left is dropped and
//!   [`serve`] returns, whatever a client is still sending.
//!
//! Every answer, including errors, 404s and 408s, carries `X-Content-Type-Options:
//! nosniff` (set here, in the one place every response passes), so that no browser
//! sniffs a JSON error or an echoed body into HTML.

use std::convert::Infallible;
use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::ApiError;

/// The HTTP bounds; every one is a configuration key (`http_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time for a request's head to arrive, from its first byte.
    pub header_read_timeout: Duration,
    /// Time for a request's body to arrive, from the end of its head.
    pub body_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long requests under way may run on after the shutdown signal.
    pub shutdown_deadline: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            shutdown_deadline: Duration::from_secs(10),
        }
    }
}

/// Adds `X-Content-Type-Options: nosniff` to an answer.
pub fn nosniff(res: &mut Response) {
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// What the watchdog of one connection knows of it. Times are milliseconds since
/// `origin`.
#[derive(Debug)]
struct Activity {
    origin: Instant,
    /// Requests whose handler runs.
    in_flight: AtomicUsize,
    /// Requests answered on this connection.
    served: AtomicU64,
    /// When the connection last became idle (accepted, or an answer handed over).
    idle_since: AtomicU64,
    /// When the first byte after `idle_since` arrived (`u64::MAX`: none yet).
    head_started: AtomicU64,
    /// Wakes the watchdog when the deadline may have moved (a head began, a request
    /// began or ended): a deadline that moves earlier must not wait for the timer armed
    /// for the old one (an idle timeout shorter than the header timeout was otherwise
    /// only noticed when the header timer fired).
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(u64::MAX),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read_some(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            let now = self.now();
            let first = self
                .head_started
                .compare_exchange(u64::MAX, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
            if first {
                self.changed.notify_one();
            }
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// When the connection must close if nothing changes; `None` while a request runs.
    fn deadline(&self, limits: &HttpLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let head = self.head_started.load(Ordering::SeqCst);
        let at = if head != u64::MAX {
            head.saturating_add(ms(limits.header_read_timeout))
        } else if self.served.load(Ordering::SeqCst) == 0 {
            // A connection that never sent a byte is a slow head, not a kept-alive one.
            self.idle_since
                .load(Ordering::SeqCst)
                .saturating_add(ms(limits.header_read_timeout))
        } else {
            self.idle_since
                .load(Ordering::SeqCst)
                .saturating_add(ms(limits.idle_timeout))
        };
        Some(self.origin + Duration::from_millis(at))
    }
}

/// A request under way; when it ends (answered, or dropped with its connection) the
/// connection is idle again.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.served.fetch_add(1, Ordering::SeqCst);
        a.idle_since.store(a.now(), Ordering::SeqCst);
        a.head_started.store(u64::MAX, Ordering::SeqCst);
        a.in_flight.fetch_sub(1, Ordering::SeqCst);
        a.changed.notify_one();
    }
}

/// The socket, noting when bytes arrive (the start of a request's head).
struct Tracked {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read_some();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The body read timed out.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
struct BodyTimeout;

/// A request body that must be complete by a deadline (the whole body, not each chunk:
/// a client dripping one byte at a time is stopped too).
struct DeadlineBody<B> {
    inner: B,
    sleep: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
}

impl<B> http_body::Body for DeadlineBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.timed_out.store(true, Ordering::SeqCst);
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `service` on `listener` within `limits` until `shutdown` completes, then
/// shuts down as the module says.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let limits = Arc::new(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Beyond the cap, the next client waits in the backlog (not accepted yet).
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning, keep
                    // serving the connections already open.
                    tracing::warn!(error = %e, "http: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Reap finished connection tasks so the set does not grow.
        while connections.try_join_next().is_some() {}
        let (service, limits, stopping) = (service.clone(), limits.clone(), stopping.clone());
        connections.spawn(async move {
            connection(stream, peer, service, &limits, stopping).await;
            drop(permit);
        });
    }
    // Stop accepting at once: new clients are refused by the kernel, not left waiting.
    drop(listener);
    let _ = stop.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_deadline, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            left = connections.len(),
            "http: connections still open at the shutdown deadline are closed"
        );
        connections.shutdown().await;
    }
    Ok(())
}

async fn connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    limits: &HttpLimits,
    mut stopping: watch::Receiver<bool>,
) where
    S: tower::Service<Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        io: stream,
        activity: activity.clone(),
    });
    let body_timeout = limits.body_read_timeout;
    let handler = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let in_flight = activity.begin();
            let service = service.clone();
            async move {
                let timed_out = Arc::new(AtomicBool::new(false));
                let mut req = req.map(|b| {
                    Body::new(DeadlineBody {
                        inner: b,
                        sleep: Box::pin(tokio::time::sleep(body_timeout)),
                        timed_out: timed_out.clone(),
                    })
                });
                req.extensions_mut().insert(ConnectInfo(peer));
                let mut res = match tower::ServiceExt::oneshot(service, req).await {
                    Ok(res) => res,
                    Err(never) => match never {},
                };
                if timed_out.load(Ordering::SeqCst) {
                    res = ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "requestTimeout",
                        "the request body was not received in time",
                    )
                    .into_response();
                    res.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                nosniff(&mut res);
                drop(in_flight);
                Ok::<_, Infallible>(res)
            }
        })
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // The watchdog below keeps the header and idle timeouts (hyper's own header timer
    // would also count the idle wait between requests as header time).
    http.timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let conn = http.serve_connection(io, handler);
    tokio::pin!(conn);
    let mut shutting_down = *stopping.borrow();
    if shutting_down {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let wake = activity
            .deadline(limits)
            .unwrap_or_else(|| Instant::now() + limits.idle_timeout);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, %peer, "http: connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(wake) => {
                if activity.deadline(limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(%peer, "http: closing a slow or idle connection");
                    return;
                }
            }
            // The deadline may have moved: arm the timer for the new one.
            () = activity.changed.notified() => {}
            changed = stopping.changed(), if !shutting_down => {
                shutting_down = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let d = HttpLimits::default();
        assert_eq!(d.header_read_timeout, Duration::from_secs(10));
        assert_eq!(d.body_read_timeout, Duration::from_secs(30));
        assert_eq!(d.idle_timeout, Duration::from_secs(60));
        assert_eq!(d.max_connections, 512);
        assert_eq!(d.shutdown_deadline, Duration::from_secs(10));
    }
}
