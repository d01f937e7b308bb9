//! The task that owns the connection to the SMSC: it binds, submits what
//! [`SmppProvider::send`](super::SmppProvider) queues, matches each `submit_sm_resp` to its
//! request by `sequence_number`, answers the SMSC's requests, and reconnects.
//!
//! Invariants:
//! - every queued request gets exactly one answer: the SMSC's, or transient when the link is
//!   down, drops before the answer, or the task stops;
//! - a request whose caller already gave up (its timeout passed) is never submitted, so an
//!   outbox retry cannot race an old copy of itself onto the wire;
//! - at most `window` submits await their response at once;
//! - a `deliver_sm` is answered after its receipt reached the sink.
//!
//! Reconnecting: a link that was lost reconnects at once, unless another link was lost within
//! the last minute; a connection or bind that fails, and such a quick second loss, wait 1 s,
//! 2 s, 4 s, ... up to 60 s (counting again from 1 s after a loss that was not quick), and
//! while waiting every send fails at once with the reason.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rusmpp::Pdu;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, sleep_until, timeout, Instant};

use super::codec::{self, Addresses, BindFields, Frame};
use super::gsm7::Encoded;
use super::report::{self, Report};
use super::SmppConfig;
use crate::provider::console::LOG_TARGET;
use crate::{Delivery, ReceiptSink, SendError};

/// The first and the longest wait before reconnecting after a failure.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A link lost this soon after the previous loss counts as a failure (a flapping SMSC).
const QUICK_LOSS: Duration = Duration::from_secs(60);

const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
const SUBMIT_SM_RESP: u32 = 0x8000_0004;
const DELIVER_SM: u32 = 0x0000_0005;
const ALERT_NOTIFICATION: u32 = 0x0000_0102;

/// One message for the SMSC, and where its outcome goes.
pub(super) struct Request {
    /// The outbox id, for logs.
    pub outbox_id: String,
    /// The recipient's E.164 digits.
    pub destination: String,
    /// The encoded text.
    pub body: Encoded,
    /// The caller's end.
    pub reply: oneshot::Sender<Result<Delivery, SendError>>,
}

/// A submitted request awaiting its `submit_sm_resp`.
struct Pending {
    outbox_id: String,
    reply: oneshot::Sender<Result<Delivery, SendError>>,
}

/// Why a bound link ended.
enum Stop {
    /// The provider was dropped.
    Shutdown,
    /// The link broke; the reason is for logs and for transient errors.
    Lost(String),
}

/// Why a connection or bind attempt failed.
enum Failure {
    /// The SMSC answered the bind with an error status.
    Refused(u32),
    /// No connection, no answer, or a broken stream.
    Unreachable(String),
}

impl Failure {
    fn reason(&self) -> String {
        match self {
            Self::Refused(status) => format!(
                "SMSC refused bind_transceiver with {}: check the SMPP system_id, password \
                 and system_type",
                codec::describe_status(*status)
            ),
            Self::Unreachable(reason) => reason.clone(),
        }
    }
}

/// When to send the next `enquire_link`, or by when its response must arrive.
enum Keepalive {
    Idle { due: Instant },
    Awaiting { sequence: u32, due: Instant },
}

impl Keepalive {
    fn due(&self) -> Instant {
        match self {
            Self::Idle { due } | Self::Awaiting { due, .. } => *due,
        }
    }
}

/// What woke the bound loop.
enum Event {
    Frame(Result<Frame, String>),
    Request(Option<Request>),
    Keepalive,
}

/// The TCP stream and what has been read from it but not yet framed.
struct Link {
    stream: TcpStream,
    buffer: BytesMut,
    write_timeout: Duration,
}

impl Link {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        match timeout(self.write_timeout, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("writing to the SMSC failed: {e}")),
            Err(_) => Err(format!(
                "the SMSC took no data for {:?}",
                self.write_timeout
            )),
        }
    }

    /// The next whole PDU. Cancel-safe: bytes read stay in the buffer.
    async fn read_frame(&mut self) -> Result<Frame, String> {
        loop {
            if let Some(frame) = codec::next_frame(&mut self.buffer).map_err(|e| e.to_string())? {
                return Ok(frame);
            }
            match self.stream.read_buf(&mut self.buffer).await {
                Ok(0) => return Err("the SMSC closed the connection".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("reading from the SMSC failed: {e}")),
            }
        }
    }
}

/// The state of one bound link.
struct Bound {
    link: Link,
    pending: HashMap<u32, Pending>,
    keepalive: Keepalive,
}

/// The connection task's state across links.
pub(super) struct Session {
    config: SmppConfig,
    receipts: Arc<dyn ReceiptSink>,
    queue: mpsc::Receiver<Request>,
    sequence: u32,
    endpoint: String,
}

impl Session {
    pub(super) fn new(
        config: SmppConfig,
        receipts: Arc<dyn ReceiptSink>,
        queue: mpsc::Receiver<Request>,
    ) -> Self {
        let endpoint = format!("{}:{}", config.host, config.port);
        Self {
            config,
            receipts,
            queue,
            sequence: 0,
            endpoint,
        }
    }

    /// Binds, serves and reconnects until the provider is dropped.
    pub(super) async fn run(mut self) {
        let mut failures = 0_u32;
        let mut last_loss: Option<Instant> = None;
        loop {
            let reason = match self.bind().await {
                Ok(link) => {
                    let reason = match self.serve(link).await {
                        Stop::Shutdown => return,
                        Stop::Lost(reason) => reason,
                    };
                    tracing::warn!(target: LOG_TARGET, endpoint = %self.endpoint, %reason,
                        "SMPP link lost; reconnecting");
                    let quick = last_loss.is_some_and(|at| at.elapsed() < QUICK_LOSS);
                    last_loss = Some(Instant::now());
                    if !quick {
                        // A link that served a while: the next failure starts at 1 s again.
                        failures = 0;
                        continue;
                    }
                    reason
                }
                Err(failure) => {
                    let reason = failure.reason();
                    match failure {
                        // Loud: an operator must fix the configuration.
                        Failure::Refused(_) => tracing::error!(target: LOG_TARGET,
                            endpoint = %self.endpoint, system_id = %self.config.system_id,
                            %reason, "SMPP bind refused"),
                        Failure::Unreachable(_) => tracing::warn!(target: LOG_TARGET,
                            endpoint = %self.endpoint, %reason, "SMPP connection failed"),
                    }
                    reason
                }
            };
            failures = failures.saturating_add(1);
            if self.refuse_for(backoff(failures), &reason).await.is_break() {
                return;
            }
        }
    }

    /// Answers every request transient with `reason` for `delay`; breaks when the provider
    /// is dropped.
    async fn refuse_for(&mut self, delay: Duration, reason: &str) -> ControlFlow<()> {
        let wait = sleep(delay);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => return ControlFlow::Continue(()),
                request = self.queue.recv() => match request {
                    None => return ControlFlow::Break(()),
                    Some(request) => {
                        let error = SendError::Transient(format!("SMPP link is down: {reason}"));
                        // The caller may have given up; nothing to do then.
                        let _ = request.reply.send(Err(error));
                    }
                },
            }
        }
    }

    fn next_sequence(&mut self) -> u32 {
        // SMPP 3.4 §5.1.4: 0x00000001 to 0x7FFFFFFF.
        self.sequence = if self.sequence >= 0x7FFF_FFFF {
            1
        } else {
            self.sequence + 1
        };
        self.sequence
    }

    /// Connects and binds as transceiver.
    async fn bind(&mut self) -> Result<Link, Failure> {
        let limit = self.config.response_timeout;
        let address = (self.config.host.as_str(), self.config.port);
        let stream = match timeout(limit, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                return Err(Failure::Unreachable(format!(
                    "could not connect to the SMSC at {}: {e}",
                    self.endpoint
                )))
            }
            Err(_) => {
                return Err(Failure::Unreachable(format!(
                    "could not connect to the SMSC at {} within {limit:?}",
                    self.endpoint
                )))
            }
        };
        // Small PDUs that each wait for an answer: do not hold them back (Nagle).
        let _ = stream.set_nodelay(true);
        let mut link = Link {
            stream,
            buffer: BytesMut::with_capacity(4096),
            write_timeout: limit,
        };
        let sequence = self.next_sequence();
        let fields = BindFields {
            system_id: &self.config.system_id,
            password: self.config.password.expose(),
            system_type: &self.config.system_type,
        };
        let bind = codec::bind_transceiver(&fields, sequence).map_err(Failure::Unreachable)?;
        link.write(&codec::encode(&bind))
            .await
            .map_err(Failure::Unreachable)?;
        let status = timeout(limit, bind_response(&mut link, sequence))
            .await
            .map_err(|_| {
                Failure::Unreachable(format!(
                    "the SMSC did not answer bind_transceiver within {limit:?}"
                ))
            })?
            .map_err(Failure::Unreachable)?;
        if status != 0 {
            return Err(Failure::Refused(status));
        }
        tracing::info!(target: LOG_TARGET, endpoint = %self.endpoint,
            system_id = %self.config.system_id, "SMPP bound as transceiver");
        Ok(link)
    }

    /// Serves a bound link until it breaks or the provider is dropped.
    async fn serve(&mut self, link: Link) -> Stop {
        let mut bound = Bound {
            link,
            pending: HashMap::new(),
            keepalive: Keepalive::Idle {
                due: Instant::now() + self.config.enquire_link_interval,
            },
        };
        let stop = loop {
            let room = bound.pending.len() < self.config.window;
            let event = tokio::select! {
                frame = bound.link.read_frame() => Event::Frame(frame),
                request = self.queue.recv(), if room => Event::Request(request),
                () = sleep_until(bound.keepalive.due()) => Event::Keepalive,
            };
            let step = match event {
                Event::Frame(Err(reason)) => Err(Stop::Lost(reason)),
                Event::Frame(Ok(frame)) => self.on_frame(frame, &mut bound).await,
                Event::Request(Some(request)) => self.submit(request, &mut bound).await,
                Event::Request(None) => {
                    let sequence = self.next_sequence();
                    let unbind = codec::header_only(codec::UNBIND, 0, sequence);
                    let _ = bound.link.write(&unbind).await;
                    Err(Stop::Shutdown)
                }
                Event::Keepalive => self.keepalive(&mut bound).await,
            };
            if let Err(stop) = step {
                break stop;
            }
        };
        for (_, pending) in bound.pending.drain() {
            let error = SendError::Transient(
                "the SMPP link was lost before the SMSC answered submit_sm".into(),
            );
            let _ = pending.reply.send(Err(error));
        }
        stop
    }

    async fn submit(&mut self, request: Request, bound: &mut Bound) -> Result<(), Stop> {
        let Request {
            outbox_id,
            destination,
            body,
            reply,
        } = request;
        if reply.is_closed() {
            return Ok(());
        }
        let sequence = self.next_sequence();
        let addresses = Addresses {
            source: &self.config.source_addr,
            source_ton: self.config.source_ton,
            source_npi: self.config.source_npi,
            destination: &destination,
            dest_ton: self.config.dest_ton,
            dest_npi: self.config.dest_npi,
        };
        let command = match codec::submit_sm(&addresses, body, sequence) {
            Ok(command) => command,
            Err(e) => {
                let error = SendError::Permanent(format!("could not build submit_sm: {e}"));
                let _ = reply.send(Err(error));
                return Ok(());
            }
        };
        if let Err(reason) = bound.link.write(&codec::encode(&command)).await {
            let error = SendError::Transient(format!("SMPP link lost while sending: {reason}"));
            let _ = reply.send(Err(error));
            return Err(Stop::Lost(reason));
        }
        tracing::debug!(target: LOG_TARGET, id = %outbox_id, sequence, "submit_sm sent");
        bound.pending.insert(sequence, Pending { outbox_id, reply });
        Ok(())
    }

    async fn keepalive(&mut self, bound: &mut Bound) -> Result<(), Stop> {
        if let Keepalive::Awaiting { .. } = bound.keepalive {
            return Err(Stop::Lost(format!(
                "the SMSC did not answer enquire_link within {:?}",
                self.config.response_timeout
            )));
        }
        // Callers that timed out no longer hold a place in the window.
        bound
            .pending
            .retain(|_, pending| !pending.reply.is_closed());
        let sequence = self.next_sequence();
        let enquire = codec::header_only(codec::ENQUIRE_LINK, 0, sequence);
        bound.link.write(&enquire).await.map_err(Stop::Lost)?;
        bound.keepalive = Keepalive::Awaiting {
            sequence,
            due: Instant::now() + self.config.response_timeout,
        };
        Ok(())
    }

    async fn on_frame(&mut self, frame: Frame, bound: &mut Bound) -> Result<(), Stop> {
        let header = frame.header;
        if header.is_response() {
            self.on_response(&frame, bound);
            return Ok(());
        }
        let answer = match header.command_id {
            codec::ENQUIRE_LINK => codec::header_only(codec::ENQUIRE_LINK_RESP, 0, header.sequence),
            DELIVER_SM => self.on_deliver_sm(&frame).await,
            codec::UNBIND => {
                let answer = codec::header_only(codec::UNBIND_RESP, 0, header.sequence);
                let _ = bound.link.write(&answer).await;
                return Err(Stop::Lost("the SMSC unbound the session".into()));
            }
            // SMPP 3.4 §4.12: alert_notification has no response.
            ALERT_NOTIFICATION => return Ok(()),
            _ => codec::header_only(
                codec::command_id::GENERIC_NACK,
                codec::ESME_RINVCMDID,
                header.sequence,
            ),
        };
        bound.link.write(&answer).await.map_err(Stop::Lost)
    }

    fn on_response(&mut self, frame: &Frame, bound: &mut Bound) {
        let header = frame.header;
        match header.command_id {
            SUBMIT_SM_RESP | codec::command_id::GENERIC_NACK => {
                let Some(pending) = bound.pending.remove(&header.sequence) else {
                    tracing::debug!(target: LOG_TARGET, sequence = header.sequence,
                        "SMPP response for no waiting request (its sender gave up)");
                    return;
                };
                let outcome = outcome(frame);
                match &outcome {
                    Ok(delivery) => tracing::debug!(target: LOG_TARGET, id = %pending.outbox_id,
                        provider_message_id = ?delivery.provider_message_id, "SMSC accepted"),
                    Err(error) => tracing::info!(target: LOG_TARGET, id = %pending.outbox_id,
                        %error, "SMSC did not accept"),
                }
                let _ = pending.reply.send(outcome);
            }
            codec::ENQUIRE_LINK_RESP => {
                if let Keepalive::Awaiting { sequence, .. } = bound.keepalive {
                    if sequence == header.sequence {
                        bound.keepalive = Keepalive::Idle {
                            due: Instant::now() + self.config.enquire_link_interval,
                        };
                    }
                }
            }
            _ => {}
        }
    }

    /// Hands a receipt to the sink and returns the `deliver_sm_resp` (or `generic_nack` for a
    /// body that does not decode).
    async fn on_deliver_sm(&self, frame: &Frame) -> Vec<u8> {
        let sequence = frame.header.sequence;
        let deliver = match &frame.command {
            Ok(command) => match command.pdu() {
                Some(Pdu::DeliverSm(deliver)) => deliver,
                _ => return nack(codec::ESME_RINVCMDLEN, sequence),
            },
            Err(reason) => {
                tracing::warn!(target: LOG_TARGET, %reason, "undecodable deliver_sm refused");
                return nack(codec::ESME_RINVCMDLEN, sequence);
            }
        };
        match report::read(deliver, super::NAME) {
            Report::Final(receipt) => {
                tracing::info!(target: LOG_TARGET,
                    provider_message_id = %receipt.provider_message_id,
                    status = receipt.status.as_str(), "SMPP delivery receipt");
                self.receipts.receipt(receipt).await;
            }
            Report::Intermediate => {
                tracing::debug!(target: LOG_TARGET, "SMPP intermediate receipt ignored");
            }
            Report::Unreadable => {
                tracing::warn!(target: LOG_TARGET, "SMPP receipt without a message id ignored");
            }
            Report::NotAReceipt => {
                tracing::debug!(target: LOG_TARGET, "SMPP inbound message ignored");
            }
        }
        codec::encode(&codec::deliver_sm_resp(0, sequence))
    }
}

fn nack(status: u32, sequence: u32) -> Vec<u8> {
    codec::header_only(codec::command_id::GENERIC_NACK, status, sequence)
}

/// Reads frames until the answer to the bind with `sequence`; answers `enquire_link` meanwhile.
async fn bind_response(link: &mut Link, sequence: u32) -> Result<u32, String> {
    loop {
        let frame = link.read_frame().await?;
        let header = frame.header;
        match header.command_id {
            BIND_TRANSCEIVER_RESP if header.sequence == sequence => return Ok(header.status),
            codec::command_id::GENERIC_NACK if header.sequence == sequence => {
                // A nack is never a bind, even one that (wrongly) says ESME_ROK.
                return Ok(match header.status {
                    0 => codec::ESME_RUNKNOWNERR,
                    status => status,
                });
            }
            codec::ENQUIRE_LINK => {
                let answer = codec::header_only(codec::ENQUIRE_LINK_RESP, 0, header.sequence);
                link.write(&answer).await?;
            }
            _ => {}
        }
    }
}

/// The outcome of a submit from its `submit_sm_resp` or `generic_nack`.
fn outcome(frame: &Frame) -> Result<Delivery, SendError> {
    let header = frame.header;
    if header.command_id == SUBMIT_SM_RESP && header.status == 0 {
        let provider_message_id = match &frame.command {
            Ok(command) => match command.pdu() {
                Some(Pdu::SubmitSmResp(resp)) => Some(resp.message_id().as_str().to_owned()),
                _ => None,
            },
            Err(_) => None,
        };
        return Ok(Delivery {
            provider_message_id: provider_message_id.filter(|id| !id.is_empty()),
            provider: None,
        });
    }
    let status = codec::describe_status(header.status);
    let text = if header.command_id == SUBMIT_SM_RESP {
        format!("SMSC refused the message: {status}")
    } else {
        format!("SMSC answered submit_sm with generic_nack {status}")
    };
    if codec::is_temporary(header.status) {
        Err(SendError::Transient(text))
    } else {
        Err(SendError::Permanent(text))
    }
}

/// 1 s, 2 s, 4 s, ... 60 s for the `failures`-th consecutive failure.
fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(6);
    BACKOFF_FIRST.saturating_mul(1 << exponent).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
