//! The two encodings textid submits over SMPP: the GSM 03.38 default alphabet as unpacked
//! septets (`data_coding` 0, one octet per septet, the SMPP default) and UCS-2 (`data_coding`
//! 8, UTF-16 big-endian).
//!
//! The character set is the one [`crate::template::is_gsm7`] measures; a test below checks the
//! two agree on every character of the Basic Multilingual Plane, so a text the templates
//! accept as one GSM-7 segment is always sent as GSM-7.

/// The GSM 03.38 default alphabet, indexed by septet (3GPP TS 23.038 §6.2.1). Index 0x1B is
/// the escape to the extension table, not a character: [`septet`] never returns it.
const DEFAULT_ALPHABET: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The escape septet that introduces a character of the extension table.
const ESCAPE: u8 = 0x1B;

/// The extension table: each character is sent as [`ESCAPE`] followed by its septet.
const EXTENSION: [(char, u8); 10] = [
    ('\u{000C}', 0x0A),
    ('^', 0x14),
    ('{', 0x28),
    ('}', 0x29),
    ('\\', 0x2F),
    ('[', 0x3C),
    ('~', 0x3D),
    (']', 0x3E),
    ('|', 0x40),
    ('€', 0x65),
];

/// The septets one GSM-7 segment holds without a User Data Header (3GPP TS 23.040).
pub(super) const MAX_GSM7_SEPTETS: usize = 160;

/// The octets one UCS-2 segment holds: 70 characters.
pub(super) const MAX_UCS2_OCTETS: usize = 140;

/// A body encoded for `submit_sm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Encoded {
    /// The `data_coding` octet: 0 (SMSC default alphabet, GSM-7) or 8 (UCS-2).
    pub data_coding: u8,
    /// The user data.
    pub octets: Vec<u8>,
}

impl Encoded {
    /// Whether the user data fits `short_message` as one segment; a longer body goes in the
    /// `message_payload` TLV, and the SMSC segments it.
    pub fn fits_one_segment(&self) -> bool {
        let max = if self.data_coding == 0 {
            MAX_GSM7_SEPTETS
        } else {
            MAX_UCS2_OCTETS
        };
        self.octets.len() <= max
    }
}

/// GSM-7 when every character has a GSM 03.38 form, UCS-2 otherwise.
pub(super) fn encode(text: &str) -> Encoded {
    match gsm7(text) {
        Some(octets) => Encoded {
            data_coding: 0,
            octets,
        },
        None => Encoded {
            data_coding: 8,
            // UTF-16BE: characters outside the BMP become surrogate pairs, which handsets
            // decode although strict UCS-2 has no form for them.
            octets: text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        },
    }
}

/// `text` as unpacked septets, one octet each; `None` when a character has no GSM-7 form.
fn gsm7(text: &str) -> Option<Vec<u8>> {
    let mut octets = Vec::with_capacity(text.len());
    for c in text.chars() {
        match septet(c) {
            Some(s) => octets.push(s),
            None => {
                let (_, s) = EXTENSION.iter().find(|(e, _)| *e == c)?;
                octets.extend_from_slice(&[ESCAPE, *s]);
            }
        }
    }
    Some(octets)
}

/// The default-alphabet septet of `c`, if it has one.
fn septet(c: char) -> Option<u8> {
    let index = DEFAULT_ALPHABET.iter().position(|&a| a == c)?;
    let septet = u8::try_from(index).ok()?;
    (septet != ESCAPE).then_some(septet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template;

    #[test]
    fn ascii_text_is_gsm7_one_octet_per_character() {
        let encoded = encode("Hi @home: 100% $5_");
        assert_eq!(encoded.data_coding, 0);
        assert_eq!(
            encoded.octets,
            [
                0x48, 0x69, 0x20, 0x00, 0x68, 0x6F, 0x6D, 0x65, 0x3A, 0x20, 0x31, 0x30, 0x30, 0x25,
                0x20, 0x02, 0x35, 0x11
            ]
        );
    }

    #[test]
    fn national_characters_use_their_gsm_positions_not_latin1() {
        assert_eq!(
            encode("äöüÄÖÜß").octets,
            [0x7B, 0x7C, 0x7E, 0x5B, 0x5C, 0x5E, 0x1E]
        );
        assert_eq!(
            encode("£¥èΩ¿à").octets,
            [0x01, 0x03, 0x04, 0x15, 0x60, 0x7F]
        );
    }

    #[test]
    fn extension_characters_are_escaped() {
        assert_eq!(encode("€").octets, [0x1B, 0x65]);
        assert_eq!(encode("[a]").octets, [0x1B, 0x3C, 0x61, 0x1B, 0x3E]);
    }

    #[test]
    fn a_text_with_a_non_gsm_character_is_utf16_big_endian() {
        let encoded = encode("Kód ő");
        assert_eq!(encoded.data_coding, 8);
        assert_eq!(
            encoded.octets,
            [0x00, 0x4B, 0x00, 0xF3, 0x00, 0x64, 0x00, 0x20, 0x01, 0x51]
        );
        // The escape character itself is not a GSM-7 character.
        assert_eq!(encode("\u{1B}").data_coding, 8);
    }

    #[test]
    fn segment_limits_are_160_septets_and_70_ucs2_characters() {
        assert!(encode(&"a".repeat(160)).fits_one_segment());
        assert!(!encode(&"a".repeat(161)).fits_one_segment());
        // An extension character costs two septets.
        assert!(!encode(&format!("{}€", "a".repeat(159))).fits_one_segment());
        assert!(encode(&"ő".repeat(70)).fits_one_segment());
        assert!(!encode(&"ő".repeat(71)).fits_one_segment());
    }

    #[test]
    fn the_alphabet_agrees_with_the_template_measure_on_the_whole_bmp() {
        for c in (0..=0xFFFF_u32).filter_map(char::from_u32) {
            let text = c.to_string();
            let ours = gsm7(&text).map(|octets| octets.len());
            assert_eq!(ours, template::gsm7_length(&text), "U+{:04X}", c as u32);
        }
    }
}
