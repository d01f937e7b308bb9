//! A loopback SMSC that speaks SMPP 3.4 byte for byte, for the SMPP provider's contract
//! tests (`tests/smpp.rs`) and the binary's end-to-end test
//! (`crates/textid/tests/process/smpp.rs`), which includes this file by path.
//!
//! It is written from the spec, not with the provider's codec: it parses every field of what
//! it receives and builds its answers from raw bytes. A test steps it by hand (accept, read
//! one PDU, answer), so the test decides when the SMSC answers and no test waits on the
//! clock. It needs only tokio (`net`, `io-util`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test double, where a panic is a failed test"
)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A guard against a hung test, never a timing assumption: every wait below ends on an event.
pub const GUARD: Duration = Duration::from_secs(20);

// Command ids of SMPP 3.4 §5.1.2.1.
pub const GENERIC_NACK: u32 = 0x8000_0000;
pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
pub const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
pub const SUBMIT_SM: u32 = 0x0000_0004;
pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
pub const DELIVER_SM: u32 = 0x0000_0005;
pub const DELIVER_SM_RESP: u32 = 0x8000_0005;
pub const ENQUIRE_LINK: u32 = 0x0000_0015;
pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
pub const DATA_SM: u32 = 0x0000_0103;

/// One PDU as it crossed the wire.
#[derive(Debug)]
pub struct RawPdu {
    pub command_id: u32,
    pub status: u32,
    pub sequence: u32,
    pub body: Vec<u8>,
}

/// Reads the fields of a PDU body in order.
pub struct Fields<'a> {
    pub bytes: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn c_string(&mut self) -> String {
        let end = self
            .bytes
            .iter()
            .position(|&b| b == 0)
            .expect("C-string without NUL");
        let text = String::from_utf8(self.bytes[..end].to_vec()).unwrap();
        self.bytes = &self.bytes[end + 1..];
        text
    }

    pub fn u8(&mut self) -> u8 {
        let (first, rest) = self.bytes.split_first().expect("field missing");
        self.bytes = rest;
        *first
    }

    pub fn octets(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        taken
    }

    pub fn tlvs(&mut self) -> Vec<(u16, Vec<u8>)> {
        let mut tlvs = Vec::new();
        while !self.bytes.is_empty() {
            let tag = u16::from_be_bytes(self.octets(2).try_into().unwrap());
            let length = u16::from_be_bytes(self.octets(2).try_into().unwrap());
            tlvs.push((tag, self.octets(usize::from(length)).to_vec()));
        }
        tlvs
    }
}

/// The fields of `bind_transceiver` (SMPP 3.4 §4.1.5).
#[derive(Debug, PartialEq, Eq)]
pub struct Bind {
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub interface_version: u8,
    pub addr_ton: u8,
    pub addr_npi: u8,
    pub address_range: String,
}

pub fn parse_bind(pdu: &RawPdu) -> Bind {
    assert_eq!(pdu.command_id, BIND_TRANSCEIVER);
    let mut f = Fields { bytes: &pdu.body };
    let bind = Bind {
        system_id: f.c_string(),
        password: f.c_string(),
        system_type: f.c_string(),
        interface_version: f.u8(),
        addr_ton: f.u8(),
        addr_npi: f.u8(),
        address_range: f.c_string(),
    };
    assert!(f.bytes.is_empty(), "bytes after address_range");
    bind
}

/// The fields of `submit_sm` (SMPP 3.4 §4.4.1).
#[derive(Debug)]
pub struct Submit {
    pub service_type: String,
    pub source_ton: u8,
    pub source_npi: u8,
    pub source: String,
    pub dest_ton: u8,
    pub dest_npi: u8,
    pub destination: String,
    pub esm_class: u8,
    pub protocol_id: u8,
    pub priority_flag: u8,
    pub schedule_delivery_time: String,
    pub validity_period: String,
    pub registered_delivery: u8,
    pub replace_if_present: u8,
    pub data_coding: u8,
    pub sm_default_msg_id: u8,
    pub short_message: Vec<u8>,
    pub tlvs: Vec<(u16, Vec<u8>)>,
}

pub fn parse_submit(pdu: &RawPdu) -> Submit {
    assert_eq!(pdu.command_id, SUBMIT_SM);
    assert_eq!(pdu.status, 0);
    let mut f = Fields { bytes: &pdu.body };
    Submit {
        service_type: f.c_string(),
        source_ton: f.u8(),
        source_npi: f.u8(),
        source: f.c_string(),
        dest_ton: f.u8(),
        dest_npi: f.u8(),
        destination: f.c_string(),
        esm_class: f.u8(),
        protocol_id: f.u8(),
        priority_flag: f.u8(),
        schedule_delivery_time: f.c_string(),
        validity_period: f.c_string(),
        registered_delivery: f.u8(),
        replace_if_present: f.u8(),
        data_coding: f.u8(),
        sm_default_msg_id: f.u8(),
        short_message: {
            let length = f.u8();
            f.octets(usize::from(length)).to_vec()
        },
        tlvs: f.tlvs(),
    }
}

/// The SMSC end of one connection.
pub struct Connection {
    pub stream: TcpStream,
}

impl Connection {
    pub async fn read(&mut self) -> RawPdu {
        tokio::time::timeout(GUARD, self.read_unguarded())
            .await
            .expect("no PDU from textid")
    }

    pub async fn read_unguarded(&mut self) -> RawPdu {
        let mut word = [0u8; 4];
        self.stream.read_exact(&mut word).await.unwrap();
        let length = u32::from_be_bytes(word) as usize;
        let mut rest = vec![0u8; length - 4];
        self.stream.read_exact(&mut rest).await.unwrap();
        let word = |i: usize| u32::from_be_bytes(rest[i..i + 4].try_into().unwrap());
        RawPdu {
            command_id: word(0),
            status: word(4),
            sequence: word(8),
            body: rest[12..].to_vec(),
        }
    }

    pub async fn write(&mut self, command_id: u32, status: u32, sequence: u32, body: &[u8]) {
        let length = u32::try_from(16 + body.len()).unwrap();
        let mut pdu = Vec::new();
        for word in [length, command_id, status, sequence] {
            pdu.extend_from_slice(&word.to_be_bytes());
        }
        pdu.extend_from_slice(body);
        self.stream.write_all(&pdu).await.unwrap();
    }

    /// Answers a `submit_sm`: with a `message_id` when accepted, with the header alone (as
    /// SMSCs do for errors) otherwise.
    pub async fn answer_submit(&mut self, submit: &RawPdu, status: u32, message_id: &str) {
        let body = if status == 0 {
            [message_id.as_bytes(), b"\0"].concat()
        } else {
            Vec::new()
        };
        self.write(SUBMIT_SM_RESP, status, submit.sequence, &body)
            .await;
    }

    /// Reads one `submit_sm`, answers it, and returns its fields.
    pub async fn take_submit(&mut self, status: u32, message_id: &str) -> Submit {
        let pdu = self.read().await;
        let submit = parse_submit(&pdu);
        self.answer_submit(&pdu, status, message_id).await;
        submit
    }
}

/// The fake SMSC's listening socket.
pub struct Smsc {
    pub listener: TcpListener,
}

impl Smsc {
    pub async fn start() -> Self {
        Self {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    /// Accepts the next connection and reads its bind.
    pub async fn accept(&self) -> (Connection, RawPdu) {
        let (stream, _) = tokio::time::timeout(GUARD, self.listener.accept())
            .await
            .expect("textid did not connect")
            .unwrap();
        let mut connection = Connection { stream };
        let bind = connection.read().await;
        (connection, bind)
    }

    /// Accepts the next connection and answers its bind with `status`.
    pub async fn accept_with(&self, status: u32) -> (Connection, Bind) {
        let (mut connection, pdu) = self.accept().await;
        let bind = parse_bind(&pdu);
        let body = if status == 0 { &b"FakeSMSC\0"[..] } else { &[] };
        connection
            .write(BIND_TRANSCEIVER_RESP, status, pdu.sequence, body)
            .await;
        (connection, bind)
    }

    pub async fn accept_bound(&self) -> Connection {
        self.accept_with(0).await.0
    }
}

/// A `deliver_sm` body (SMPP 3.4 §4.6.1) from the handset `14255550101` to textid.
pub fn deliver_sm(esm_class: u8, short_message: &[u8], tlvs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    body.push(0); // service_type
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(b"14255550101\0");
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(b"14255550100\0");
    body.push(esm_class);
    // protocol_id, priority_flag, schedule_delivery_time, validity_period,
    // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    body.push(u8::try_from(short_message.len()).unwrap());
    body.extend_from_slice(short_message);
    for (tag, value) in tlvs {
        body.extend_from_slice(&tag.to_be_bytes());
        body.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        body.extend_from_slice(value);
    }
    body
}
