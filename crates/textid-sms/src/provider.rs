//! The [`Provider`](crate::Provider) implementations, one module per carrier.
//!
//! - [`console`]: development default; writes the whole message, code included, to the log.
//! - [`webhook`]: POSTs signed JSON to an operator's endpoint (Standard Webhooks).
//! - [`smpp`]: binds to a carrier's SMSC over SMPP 3.4 and takes its delivery receipts.

pub mod console;
pub mod smpp;
pub mod webhook;
