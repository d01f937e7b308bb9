//! The JSON Web Key Set (RFC 7517 §5) served at `{base}/discovery/v2.0/keys`, and its reverse:
//! reading a published set into [`VerificationKey`]s, as a relying party does.

use serde_json::{json, Value};

use crate::keys::{KeyError, SigningKey, VerificationKey};

/// `{"keys": [...]}` with the public JWK of each key, in the order given. Publish every key
/// whose tokens may still be live (the current key, the next one and the retired ones until
/// their last token expires), so relying parties can verify across a rotation.
pub fn document(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
}

/// Reads a JWKS document into verification keys. Every member of `keys` must be a usable
/// signing key (see [`VerificationKey::from_jwk`]); one bad key fails the whole set, since a
/// JWKS textid published is always clean.
pub fn parse(document: &Value) -> Result<Vec<VerificationKey>, KeyError> {
    document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| KeyError::InvalidJwk("JWKS has no keys array".into()))?
        .iter()
        .map(VerificationKey::from_jwk)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::test_keys::keys;

    #[test]
    fn document_lists_the_public_jwks_in_order() {
        let all: Vec<&SigningKey> = keys().iter().collect();
        let doc = document(&all);
        let listed = doc["keys"].as_array().unwrap();
        assert_eq!(listed.len(), all.len());
        for (jwk, key) in listed.iter().zip(&all) {
            assert_eq!(jwk, &key.public_jwk());
        }
        assert_eq!(document(&[]), json!({"keys": []}));
    }

    #[test]
    fn published_document_parses_back_to_the_same_kids_and_algs() {
        let all: Vec<&SigningKey> = keys().iter().collect();
        let text = document(&all).to_string();
        let parsed = parse(&serde_json::from_str(&text).unwrap()).unwrap();
        let got: Vec<_> = parsed.iter().map(|k| (k.kid(), k.alg())).collect();
        let want: Vec<_> = all.iter().map(|k| (k.kid(), k.alg())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn document_without_keys_is_refused() {
        assert!(parse(&json!({})).is_err());
        assert!(parse(&json!({"keys": {}})).is_err());
    }
}
