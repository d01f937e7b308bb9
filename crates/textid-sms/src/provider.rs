//! The [`Provider`](crate::Provider) implementations, one module per carrier.
//!
//! - [`console`]: development default; writes the whole message, code included, to the log.
//! - [`webhook`]: POSTs signed JSON to an operator's endpoint (Standard Webhooks).
//! - [`twilio`]: Twilio Programmable Messaging and Calls, with signed status callbacks.
//! - [`vonage`]: the Vonage SMS API, with signed delivery receipts.
//! - [`smpp`]: binds to a carrier's SMSC over SMPP 3.4 and takes its delivery receipts.

pub mod console;
pub mod http;
pub mod smpp;
pub mod twilio;
pub mod vonage;
pub mod webhook;
