//! Delivery receipts carried by `deliver_sm` (SMPP 3.4 §5.2.12, Appendix B).
//!
//! A `deliver_sm` is a receipt when its `esm_class` message type is "SMSC Delivery Receipt"
//! (bits 5..2 = `0001`); anything else (a reply from a handset, an intermediate notification)
//! is acknowledged and ignored. The receipt names the message in the
//! `receipted_message_id` TLV and its outcome in the `message_state` TLV when the SMSC sends
//! them (SMPP 3.4 §5.3.2.12, §5.3.2.35); otherwise, and for the error code, in the text of
//! Appendix B: `id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done
//! date:YYMMDDhhmm stat:DDDDDDD err:E text:...`.
//!
//! Only final outcomes become a [`Receipt`]: `DELIVRD` is delivered; `UNDELIV`, `REJECTD`,
//! `EXPIRED` and `DELETED` are failed; `ENROUTE`, `ACCEPTD` and `UNKNOWN` say nothing final.

use rusmpp::pdus::DeliverSm;
use rusmpp::tlvs::TlvValue;
use rusmpp::values::MessageState;

use crate::{Receipt, ReceiptStatus};

/// The `esm_class` bits that hold the message type, and the type of a delivery receipt.
const MESSAGE_TYPE_MASK: u8 = 0b0011_1100;
const DELIVERY_RECEIPT: u8 = 0b0000_0100;

/// What a `deliver_sm` says, once read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Report {
    /// A final receipt.
    Final(Receipt),
    /// A receipt with no final outcome yet (`ENROUTE`, `ACCEPTD`, ...).
    Intermediate,
    /// A receipt that names no message: nothing can be closed with it.
    Unreadable,
    /// Not a receipt (a message from a handset): textid takes no inbound messages.
    NotAReceipt,
}

/// Reads the receipt in `deliver`, if it is one.
pub(super) fn read(deliver: &DeliverSm, provider: &'static str) -> Report {
    if u8::from(deliver.esm_class) & MESSAGE_TYPE_MASK != DELIVERY_RECEIPT {
        return Report::NotAReceipt;
    }
    let mut tlv_id = None;
    let mut tlv_state = None;
    let mut payload = None;
    for tlv in deliver.tlvs() {
        match tlv.value() {
            Some(TlvValue::ReceiptedMessageId(id)) => tlv_id = Some(id.as_str().to_owned()),
            Some(TlvValue::MessageState(state)) => tlv_state = Some(*state),
            Some(TlvValue::MessagePayload(p)) => payload = Some(p.value.as_ref().to_vec()),
            _ => {}
        }
    }
    let text_bytes = payload.unwrap_or_else(|| deliver.short_message().as_ref().to_vec());
    let text = String::from_utf8_lossy(&text_bytes);
    let Some(id) = tlv_id.or_else(|| field(&text, "id").map(str::to_owned)) else {
        return Report::Unreadable;
    };
    let word = field(&text, "stat")
        .map(str::to_ascii_uppercase)
        .or_else(|| tlv_state.and_then(state_word).map(str::to_owned));
    let status = match tlv_state {
        Some(state) => state_status(state),
        None => word.as_deref().and_then(word_status),
    };
    let Some(status) = status else {
        return Report::Intermediate;
    };
    let reason = (status == ReceiptStatus::Failed).then(|| failure_reason(word, &text));
    Report::Final(Receipt {
        provider,
        provider_message_id: id,
        status,
        reason,
    })
}

/// `UNDELIV err:001`: the status word and, when it is not zero, the error code.
fn failure_reason(word: Option<String>, text: &str) -> String {
    let word = word.unwrap_or_else(|| "UNKNOWN".to_owned());
    match field(text, "err") {
        Some(err) if err.chars().any(|c| c != '0') => format!("{word} err:{err}"),
        _ => word,
    }
}

/// The value after `key:` in an Appendix B receipt text: up to the next space. Keys are
/// matched without regard to case (SMSCs write both `stat:` and `Stat:`) and only at the start
/// of the text or after a space, so `id` does not match inside `sub id:`'s neighbours.
fn field<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    let mut rest = text;
    let mut offset = 0;
    loop {
        let at = rest.find(':')?;
        let start = rest[..at].rfind(' ').map_or(0, |space| space + 1);
        let name = &rest[start..at];
        let value_start = at + 1;
        let value_end = rest[value_start..]
            .find(' ')
            .map_or(rest.len(), |end| value_start + end);
        if name.eq_ignore_ascii_case(key) {
            return Some(&text[offset + value_start..offset + value_end]);
        }
        offset += value_start;
        rest = &rest[value_start..];
    }
}

fn word_status(word: &str) -> Option<ReceiptStatus> {
    match word {
        "DELIVRD" => Some(ReceiptStatus::Delivered),
        "UNDELIV" | "REJECTD" | "EXPIRED" | "DELETED" => Some(ReceiptStatus::Failed),
        _ => None,
    }
}

fn state_status(state: MessageState) -> Option<ReceiptStatus> {
    match state {
        MessageState::Delivered => Some(ReceiptStatus::Delivered),
        MessageState::Expired
        | MessageState::Deleted
        | MessageState::Undeliverable
        | MessageState::Rejected => Some(ReceiptStatus::Failed),
        _ => None,
    }
}

/// The Appendix B word for a final `message_state`.
fn state_word(state: MessageState) -> Option<&'static str> {
    match state {
        MessageState::Delivered => Some("DELIVRD"),
        MessageState::Expired => Some("EXPIRED"),
        MessageState::Deleted => Some("DELETED"),
        MessageState::Undeliverable => Some("UNDELIV"),
        MessageState::Rejected => Some("REJECTD"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use rusmpp::tlvs::MessageDeliveryRequestTlvValue;
    use rusmpp::types::{COctetString, OctetString};
    use rusmpp::values::EsmClass;

    use super::*;

    fn deliver(esm_class: u8, text: &str, tlvs: Vec<MessageDeliveryRequestTlvValue>) -> DeliverSm {
        DeliverSm::builder()
            .esm_class(EsmClass::from(esm_class))
            .short_message(OctetString::from_vec(text.as_bytes().to_vec()).unwrap())
            .tlvs(tlvs)
            .build()
    }

    fn receipt(id: &str, status: ReceiptStatus, reason: Option<&str>) -> Report {
        Report::Final(Receipt {
            provider: "smpp",
            provider_message_id: id.into(),
            status,
            reason: reason.map(str::to_owned),
        })
    }

    const DELIVERED: &str = "id:0123456789 sub:001 dlvrd:001 submit date:2601011200 \
                             done date:2601011201 stat:DELIVRD err:000 text:123456 is your";

    #[test]
    fn an_appendix_b_text_gives_id_and_status() {
        let report = read(&deliver(0x04, DELIVERED, vec![]), "smpp");
        assert_eq!(
            report,
            receipt("0123456789", ReceiptStatus::Delivered, None)
        );
    }

    #[test]
    fn a_failure_carries_the_status_word_and_error_code() {
        let text = "id:abc sub:001 dlvrd:000 submit date:2601011200 done date:2601011201 \
                    stat:UNDELIV err:001 text:";
        let report = read(&deliver(0x04, text, vec![]), "smpp");
        assert_eq!(
            report,
            receipt("abc", ReceiptStatus::Failed, Some("UNDELIV err:001"))
        );
        let expired = "id:abc stat:EXPIRED err:000";
        let report = read(&deliver(0x04, expired, vec![]), "smpp");
        assert_eq!(
            report,
            receipt("abc", ReceiptStatus::Failed, Some("EXPIRED"))
        );
    }

    #[test]
    fn keys_are_matched_without_case() {
        let report = read(&deliver(0x04, "Id:7f Stat:REJECTD Err:0a", vec![]), "smpp");
        assert_eq!(
            report,
            receipt("7f", ReceiptStatus::Failed, Some("REJECTD err:0a"))
        );
    }

    #[test]
    fn tlvs_take_precedence_over_the_text() {
        let tlvs = vec![
            MessageDeliveryRequestTlvValue::ReceiptedMessageId(
                COctetString::from_string("tlv-id".into()).unwrap(),
            ),
            MessageDeliveryRequestTlvValue::MessageState(MessageState::Undeliverable),
        ];
        let report = read(&deliver(0x04, "", tlvs), "smpp");
        assert_eq!(
            report,
            receipt("tlv-id", ReceiptStatus::Failed, Some("UNDELIV"))
        );
    }

    #[test]
    fn intermediate_states_are_not_final() {
        let report = read(&deliver(0x04, "id:1 stat:ENROUTE err:000", vec![]), "smpp");
        assert_eq!(report, Report::Intermediate);
        let report = read(&deliver(0x04, "id:1 stat:ACCEPTD", vec![]), "smpp");
        assert_eq!(report, Report::Intermediate);
    }

    #[test]
    fn a_message_from_a_handset_is_not_a_receipt() {
        assert_eq!(
            read(&deliver(0x00, DELIVERED, vec![]), "smpp"),
            Report::NotAReceipt
        );
        // Intermediate delivery notification (bits 5..2 = 1000).
        assert_eq!(
            read(&deliver(0x20, DELIVERED, vec![]), "smpp"),
            Report::NotAReceipt
        );
    }

    #[test]
    fn a_receipt_without_an_id_is_unreadable() {
        let report = read(&deliver(0x04, "stat:DELIVRD", vec![]), "smpp");
        assert_eq!(report, Report::Unreadable);
    }
}
