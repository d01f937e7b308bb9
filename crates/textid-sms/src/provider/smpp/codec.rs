//! SMPP framing and the few PDUs textid exchanges, over `rusmpp`'s PDU types.
//!
//! `rusmpp` encodes and decodes PDU bodies; this module owns the framing around them
//! (`command_length` first, SMPP 3.4 §3.2) so that a PDU `rusmpp` cannot decode (an unknown
//! TLV value, a field past its limit) costs that one PDU, answered with `generic_nack`, and
//! never the byte stream: the next PDU still starts where its length says.
//!
//! It also names the `command_status` values of SMPP 3.4 §5.1.3 as the spec spells them
//! (`ESME_RTHROTTLED`), for errors an operator can search for.

use bytes::{Buf, BytesMut};
use rusmpp::decode::DecodeWithLength as _;
use rusmpp::encode::{Encode as _, Length as _};
use rusmpp::pdus::{BindTransceiver, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::MessageSubmissionRequestTlvValue;
use rusmpp::types::COctetStringError as CStringError;
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, MessagePayload, Npi, RegisteredDelivery, ServiceType,
    Ton,
};
use rusmpp::{Command, CommandStatus, Pdu};

use super::gsm7::Encoded;

/// The octets of a PDU header: `command_length`, `command_id`, `command_status`,
/// `sequence_number`.
pub(super) const HEADER_LEN: usize = 16;

/// The largest PDU accepted from an SMSC. A `message_payload` may hold 64 KiB; textid's
/// receipts and responses are far smaller, so anything beyond this is a broken stream.
pub(super) const MAX_PDU_LEN: usize = 70 * 1024;

/// `command_id` values textid reads before decoding (SMPP 3.4 §5.1.2.1).
pub(super) mod command_id {
    /// `generic_nack`.
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    /// The bit that marks a response.
    pub const RESPONSE_BIT: u32 = 0x8000_0000;
}

/// `ESME_RINVCMDID`: the answer to a request textid does not handle.
pub(super) const ESME_RINVCMDID: u32 = 0x0000_0003;
/// `ESME_RUNKNOWNERR`: what a bind answered with a `generic_nack` that says `ESME_ROK` counts as.
pub(super) const ESME_RUNKNOWNERR: u32 = 0x0000_00FF;
/// `ESME_RINVCMDLEN`: the answer to a PDU whose body does not decode.
pub(super) const ESME_RINVCMDLEN: u32 = 0x0000_0002;

/// The header of a PDU, read before (and whether or not) its body decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub command_id: u32,
    pub status: u32,
    pub sequence: u32,
}

impl Header {
    /// Whether this PDU answers one of ours.
    pub fn is_response(&self) -> bool {
        self.command_id & command_id::RESPONSE_BIT != 0
    }
}

/// One PDU taken off the stream.
#[derive(Debug)]
pub(super) struct Frame {
    pub header: Header,
    /// The decoded command, or why `rusmpp` could not decode its body. Boxed: a decoded
    /// command is a few hundred bytes, and frames move through the session's event loop.
    pub command: Result<Box<Command>, String>,
}

/// The stream cannot be read any further: its framing is broken.
#[derive(Debug, thiserror::Error)]
#[error("SMSC sent a PDU with command_length {length}; it must be between 16 and {MAX_PDU_LEN}")]
pub(super) struct FramingError {
    length: usize,
}

/// Splits the next whole PDU off `buffer`; `Ok(None)` until one has arrived.
pub(super) fn next_frame(buffer: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
    let Some(prefix) = buffer.get(..4) else {
        return Ok(None);
    };
    let length = usize::try_from(u32::from_be_bytes([
        prefix[0], prefix[1], prefix[2], prefix[3],
    ]))
    .unwrap_or(usize::MAX);
    if !(HEADER_LEN..=MAX_PDU_LEN).contains(&length) {
        return Err(FramingError { length });
    }
    if buffer.len() < length {
        buffer.reserve(length - buffer.len());
        return Ok(None);
    }
    let mut pdu = buffer.split_to(length);
    pdu.advance(4);
    let word = |at: usize| u32::from_be_bytes([pdu[at], pdu[at + 1], pdu[at + 2], pdu[at + 3]]);
    let header = Header {
        command_id: word(0),
        status: word(4),
        sequence: word(8),
    };
    // rusmpp decodes from the command_id on (SMPP's command_length excluded).
    let command = Command::decode(&mut pdu, length - 4)
        .map(|(command, _)| Box::new(command))
        .map_err(|e| e.to_string());
    Ok(Some(Frame { header, command }))
}

/// The wire form of `command`, `command_length` included.
pub(super) fn encode(command: &Command) -> Vec<u8> {
    let length = 4 + command.length();
    let mut out = vec![0; length];
    // A PDU textid builds is far below 4 GiB.
    out[..4].copy_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
    command.encode(&mut out[4..]);
    out
}

/// A header-only PDU (`enquire_link`, its response, `unbind_resp`, `generic_nack`).
pub(super) fn header_only(command_id: u32, status: u32, sequence: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    for word in [16, command_id, status, sequence] {
        out.extend_from_slice(&u32::to_be_bytes(word));
    }
    out
}

/// `command_id` of `enquire_link`.
pub(super) const ENQUIRE_LINK: u32 = 0x0000_0015;
/// `command_id` of `enquire_link_resp`.
pub(super) const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
/// `command_id` of `unbind`.
pub(super) const UNBIND: u32 = 0x0000_0006;
/// `command_id` of `unbind_resp`.
pub(super) const UNBIND_RESP: u32 = 0x8000_0006;

/// What `bind_transceiver` carries.
pub(super) struct BindFields<'a> {
    pub system_id: &'a str,
    pub password: &'a str,
    pub system_type: &'a str,
}

/// `bind_transceiver` for SMPP 3.4, with an empty `address_range` (SMSC default).
pub(super) fn bind_transceiver(fields: &BindFields<'_>, sequence: u32) -> Result<Command, String> {
    let bind = BindTransceiver::builder()
        .system_id(c_octets(fields.system_id, "system_id")?)
        .password(c_octets(fields.password, "password")?)
        .system_type(c_octets(fields.system_type, "system_type")?)
        .interface_version(InterfaceVersion::Smpp3_4)
        .addr_ton(Ton::Unknown)
        .addr_npi(Npi::Unknown)
        .address_range(COctetString::empty())
        .build();
    Ok(Command::new(CommandStatus::EsmeRok, sequence, bind))
}

/// The addresses of one `submit_sm`.
pub(super) struct Addresses<'a> {
    pub source: &'a str,
    pub source_ton: u8,
    pub source_npi: u8,
    pub destination: &'a str,
    pub dest_ton: u8,
    pub dest_npi: u8,
}

/// `submit_sm` asking for a final delivery receipt (`registered_delivery` 1), with the body
/// in `short_message` when it fits one segment and in `message_payload` otherwise.
pub(super) fn submit_sm(
    addresses: &Addresses<'_>,
    body: Encoded,
    sequence: u32,
) -> Result<Command, String> {
    let one_segment = body.fits_one_segment();
    let builder = SubmitSm::builder()
        .service_type(ServiceType::default())
        .source_addr_ton(Ton::from(addresses.source_ton))
        .source_addr_npi(Npi::from(addresses.source_npi))
        .source_addr(c_octets(addresses.source, "source_addr")?)
        .dest_addr_ton(Ton::from(addresses.dest_ton))
        .dest_addr_npi(Npi::from(addresses.dest_npi))
        .destination_addr(c_octets(addresses.destination, "destination_addr")?)
        // Not EsmClass::default(): rusmpp 0.4 defaults its ANSI-41 bits to "delivery
        // acknowledgement" (0x08), which an SMSC would take for a receipt, not a message.
        .esm_class(EsmClass::from(0))
        .schedule_delivery_time(EmptyOrFullCOctetString::empty())
        .validity_period(EmptyOrFullCOctetString::empty())
        .registered_delivery(RegisteredDelivery::from(1))
        .data_coding(DataCoding::from(body.data_coding));
    let submit = if one_segment {
        let short = OctetString::from_vec(body.octets)
            .map_err(|e| format!("short_message does not fit: {e}"))?;
        builder.short_message(short).build()
    } else {
        let payload = MessagePayload::new(AnyOctetString::from_vec(body.octets));
        builder
            .short_message(OctetString::empty())
            .push_tlv(MessageSubmissionRequestTlvValue::MessagePayload(payload))
            .build()
    };
    Ok(Command::new(CommandStatus::EsmeRok, sequence, submit))
}

/// `deliver_sm_resp` with the `message_id` left NULL (SMPP 3.4 §4.6.2).
pub(super) fn deliver_sm_resp(status: u32, sequence: u32) -> Command {
    Command::new(
        CommandStatus::from(status),
        sequence,
        Pdu::DeliverSmResp(DeliverSmResp::default()),
    )
}

fn c_octets<const MIN: usize, const MAX: usize>(
    value: &str,
    field: &str,
) -> Result<COctetString<MIN, MAX>, String> {
    COctetString::from_string(value.to_owned()).map_err(|e| match e {
        CStringError::TooManyBytes { max, .. } => {
            format!(
                "{field} is longer than SMPP allows ({} characters)",
                max - 1
            )
        }
        CStringError::NotAscii => format!("{field} must be ASCII"),
        _ => format!("{field} is not a valid SMPP string: {e}"),
    })
}

/// The spec's name of a `command_status`, e.g. `ESME_RTHROTTLED`; `None` for values SMPP 3.4
/// does not define (vendor-specific codes).
pub(super) fn status_name(status: u32) -> Option<&'static str> {
    let name = match status {
        0x00 => "ESME_ROK",
        0x01 => "ESME_RINVMSGLEN",
        0x02 => "ESME_RINVCMDLEN",
        0x03 => "ESME_RINVCMDID",
        0x04 => "ESME_RINVBNDSTS",
        0x05 => "ESME_RALYBND",
        0x06 => "ESME_RINVPRTFLG",
        0x07 => "ESME_RINVREGDLVFLG",
        0x08 => "ESME_RSYSERR",
        0x0A => "ESME_RINVSRCADR",
        0x0B => "ESME_RINVDSTADR",
        0x0C => "ESME_RINVMSGID",
        0x0D => "ESME_RBINDFAIL",
        0x0E => "ESME_RINVPASWD",
        0x0F => "ESME_RINVSYSID",
        0x11 => "ESME_RCANCELFAIL",
        0x13 => "ESME_RREPLACEFAIL",
        0x14 => "ESME_RMSGQFUL",
        0x15 => "ESME_RINVSERTYP",
        0x33 => "ESME_RINVNUMDESTS",
        0x34 => "ESME_RINVDLNAME",
        0x40 => "ESME_RINVDESTFLAG",
        0x42 => "ESME_RINVSUBREP",
        0x43 => "ESME_RINVESMCLASS",
        0x44 => "ESME_RCNTSUBDL",
        0x45 => "ESME_RSUBMITFAIL",
        0x48 => "ESME_RINVSRCTON",
        0x49 => "ESME_RINVSRCNPI",
        0x50 => "ESME_RINVDSTTON",
        0x51 => "ESME_RINVDSTNPI",
        0x53 => "ESME_RINVSYSTYP",
        0x54 => "ESME_RINVREPFLAG",
        0x55 => "ESME_RINVNUMMSGS",
        0x58 => "ESME_RTHROTTLED",
        0x61 => "ESME_RINVSCHED",
        0x62 => "ESME_RINVEXPIRY",
        0x63 => "ESME_RINVDFTMSGID",
        0x64 => "ESME_RX_T_APPN",
        0x65 => "ESME_RX_P_APPN",
        0x66 => "ESME_RX_R_APPN",
        0x67 => "ESME_RQUERYFAIL",
        0xC0 => "ESME_RINVOPTPARSTREAM",
        0xC1 => "ESME_ROPTPARNOTALLWD",
        0xC2 => "ESME_RINVPARLEN",
        0xC3 => "ESME_RMISSINGOPTPARAM",
        0xC4 => "ESME_RINVOPTPARAMVAL",
        0xFE => "ESME_RDELIVERYFAILURE",
        0xFF => "ESME_RUNKNOWNERR",
        _ => return None,
    };
    Some(name)
}

/// `ESME_RTHROTTLED (0x00000058)`, or just the number for a vendor code.
pub(super) fn describe_status(status: u32) -> String {
    match status_name(status) {
        Some(name) => format!("{name} (0x{status:08X})"),
        None => format!("0x{status:08X}"),
    }
}

/// Whether a refusal of a `submit_sm` with `status` may succeed when tried again later: the
/// SMSC is busy or broken for a while (SMPP 3.4 §5.1.3; `ESME_RX_T_APPN` is "temporary").
pub(super) fn is_temporary(status: u32) -> bool {
    matches!(
        status,
        0x08 // ESME_RSYSERR
            | 0x14 // ESME_RMSGQFUL
            | 0x58 // ESME_RTHROTTLED
            | 0x64 // ESME_RX_T_APPN
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bind_transmitter example of SMPP 3.4 §3.3 (with "SMPP3TEST"/"secret08"/"SUBMIT1"),
    /// as a bind_transceiver (command_id 9) with interface_version 0x34.
    const BIND: [u8; 47] = [
        0x00, 0x00, 0x00, 0x2F, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, b'S', b'M', b'P', b'P', b'3', b'T', b'E', b'S', b'T', 0x00, b's', b'e', b'c', b'r',
        b'e', b't', b'0', b'8', 0x00, b'S', b'U', b'B', b'M', b'I', b'T', b'1', 0x00, 0x34, 0x00,
        0x00, 0x00,
    ];

    #[test]
    fn bind_transceiver_encodes_as_the_spec_example() {
        let fields = BindFields {
            system_id: "SMPP3TEST",
            password: "secret08",
            system_type: "SUBMIT1",
        };
        assert_eq!(encode(&bind_transceiver(&fields, 1).unwrap()), BIND);
    }

    #[test]
    fn a_field_past_its_smpp_limit_is_an_error_naming_the_field() {
        let fields = BindFields {
            system_id: "x",
            password: "ninechars",
            system_type: "",
        };
        let err = bind_transceiver(&fields, 1).err().unwrap();
        assert_eq!(err, "password is longer than SMPP allows (8 characters)");
    }

    #[test]
    fn submit_sm_encodes_every_field_in_order() {
        let addresses = Addresses {
            source: "textid",
            source_ton: 5,
            source_npi: 0,
            destination: "14255550101",
            dest_ton: 1,
            dest_npi: 1,
        };
        let body = Encoded {
            data_coding: 0,
            octets: b"Hi".to_vec(),
        };
        let bytes = encode(&submit_sm(&addresses, body, 7).unwrap());
        let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 7];
        expected.push(0); // service_type
        expected.extend_from_slice(&[5, 0]);
        expected.extend_from_slice(b"textid\0");
        expected.extend_from_slice(&[1, 1]);
        expected.extend_from_slice(b"14255550101\0");
        // esm_class, protocol_id, priority_flag, schedule_delivery_time, validity_period,
        // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0]);
        expected.extend_from_slice(&[2, b'H', b'i']);
        let length = u32::try_from(expected.len()).unwrap();
        expected[..4].copy_from_slice(&length.to_be_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn a_long_body_goes_in_message_payload() {
        let addresses = Addresses {
            source: "1",
            source_ton: 1,
            source_npi: 1,
            destination: "2",
            dest_ton: 1,
            dest_npi: 1,
        };
        let body = Encoded {
            data_coding: 0,
            octets: vec![0x61; 161],
        };
        let bytes = encode(&submit_sm(&addresses, body, 1).unwrap());
        // sm_length 0, then TLV 0x0424 with length 161.
        let tail = &bytes[bytes.len() - 161 - 5..bytes.len() - 161];
        assert_eq!(tail, [0x00, 0x04, 0x24, 0x00, 0xA1]);
    }

    #[test]
    fn frames_are_split_by_command_length_and_wait_for_the_whole_pdu() {
        let mut buffer = BytesMut::new();
        let enquire = header_only(ENQUIRE_LINK, 0, 9);
        buffer.extend_from_slice(&enquire[..10]);
        assert!(next_frame(&mut buffer).unwrap().is_none());
        buffer.extend_from_slice(&enquire[10..]);
        buffer.extend_from_slice(&header_only(ENQUIRE_LINK_RESP, 0, 10));
        let first = next_frame(&mut buffer).unwrap().unwrap();
        assert_eq!(
            first.header,
            Header {
                command_id: ENQUIRE_LINK,
                status: 0,
                sequence: 9
            }
        );
        assert_eq!(first.command.unwrap().pdu(), Some(&Pdu::EnquireLink));
        let second = next_frame(&mut buffer).unwrap().unwrap();
        assert!(second.header.is_response());
        assert!(buffer.is_empty());
    }

    #[test]
    fn an_undecodable_body_costs_only_its_own_pdu() {
        let mut buffer = BytesMut::new();
        // A submit_sm_resp whose message_id has no terminating NUL.
        let mut bad = header_only(0x8000_0004, 0, 3);
        bad.extend_from_slice(b"abc");
        bad[3] = 19;
        buffer.extend_from_slice(&bad);
        buffer.extend_from_slice(&header_only(ENQUIRE_LINK, 0, 4));
        let frame = next_frame(&mut buffer).unwrap().unwrap();
        assert_eq!(frame.header.sequence, 3);
        assert!(frame.command.is_err());
        assert_eq!(next_frame(&mut buffer).unwrap().unwrap().header.sequence, 4);
    }

    #[test]
    fn an_impossible_length_breaks_the_stream() {
        let mut buffer = BytesMut::from(&[0u8, 0, 0, 8, 0, 0, 0, 0][..]);
        assert!(next_frame(&mut buffer).is_err());
    }

    #[test]
    fn statuses_are_named_as_in_the_spec() {
        assert_eq!(describe_status(0x58), "ESME_RTHROTTLED (0x00000058)");
        assert_eq!(describe_status(0x0B), "ESME_RINVDSTADR (0x0000000B)");
        assert_eq!(describe_status(0x0400), "0x00000400");
        assert!(is_temporary(0x58) && is_temporary(0x14) && is_temporary(0x08));
        assert!(!is_temporary(0x0B) && !is_temporary(0x0A) && !is_temporary(0x45));
    }
}
