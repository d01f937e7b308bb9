//! The [`Provider`](crate::Provider) implementations, one module per carrier.
//!
//! - [`console`]: development default; writes the whole message, code included, to the log.
//! - [`webhook`]: POSTs signed JSON to an operator's endpoint (Standard Webhooks).
//! - [`twilio`]: Twilio Programmable Messaging and Calls, with signed status callbacks.
//! - [`vonage`]: the Vonage SMS API, with signed delivery receipts, or the Messages API
//!   ([`vonage_messages`], with an application JWT and signed status webhooks); voice
//!   through [`vonage_voice`] (the Voice API with the same application JWT).
//! - [`smpp`]: binds to a carrier's SMSC over SMPP 3.4 and takes its delivery receipts.
//! - [`sns`]: Amazon SNS `Publish` to a phone number, signed with [`sigv4`], with fixed or
//!   temporary credentials ([`aws_credentials`]).

pub mod aws_credentials;
pub mod console;
pub mod http;
pub mod sigv4;
pub mod smpp;
pub mod sns;
pub mod twilio;
pub mod vonage;
pub mod vonage_messages;
pub mod vonage_voice;
pub mod webhook;
