//! A byte buffer for key material whose `Debug` never shows the bytes and whose memory is
//! wiped on drop, so a private key cannot reach a log line by accident (STYLE: secrets sit in
//! a redacting wrapper).

use std::fmt;

use zeroize::Zeroizing;

/// Secret bytes (a private key, a key-encryption key). Read them with
/// [`SecretBytes::expose`], deliberately.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps secret bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The bytes themselves. Every call site is a place where the secret leaves the wrapper.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_bytes() {
        let s = SecretBytes::new(vec![0xde, 0xad]);
        assert_eq!(format!("{s:?}"), "SecretBytes(<redacted>)");
        assert_eq!(s.expose(), &[0xde, 0xad]);
    }
}
