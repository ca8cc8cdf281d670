//! Signed orchestrator messages: the orchestrator signs every `dispatch` and `cancel` with its
//! Ed25519 key, and an agent runs or cancels only what carries a valid signature from the key
//! it was given. Whoever can publish on the bus but does not hold the key (an impostor with a
//! broker account, a compromised agent) cannot make an agent run anything.
//!
//! The signature is detached and carried in the envelope's `signature` field (hex): it covers
//! the exact bytes of [`Envelope::encode`] of the same envelope with `signature` absent, which
//! the receiver recomputes from the envelope it decoded, so what it acts on is exactly what was
//! signed. Invariant: depends only on this module's envelope type and `aws-lc-rs`.

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::protocol::Envelope;

/// The orchestrator's private key. `Debug` never shows it.
pub struct SigningKey(Ed25519KeyPair);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.verifying_key().to_hex())
    }
}

impl SigningKey {
    /// A new random key, as the PKCS#8 document to keep it in.
    pub fn generate_pkcs8() -> Result<Vec<u8>, String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|document| document.as_ref().to_vec())
            .map_err(|_| "cannot generate an Ed25519 key".to_owned())
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, String> {
        Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(Self)
            .map_err(|error| format!("not an Ed25519 PKCS#8 key: {error}"))
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.0.public_key().as_ref());
        VerifyingKey(bytes)
    }

    /// Signs `envelope` in place (replacing any signature it had).
    pub fn sign(&self, envelope: &mut Envelope) {
        envelope.signature = None;
        let signature = self.0.sign(&envelope.encode());
        envelope.signature = Some(hex(signature.as_ref()));
    }
}

/// The orchestrator's public key, as agents are given it: 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey([u8; 32]);

/// Why a message's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The message carries no signature.
    Missing,
    /// The signature is not hex of the right length, or does not verify with the key.
    Invalid,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => "it carries no signature",
            SignatureError::Invalid => "its signature does not verify with the orchestrator's key",
        })
    }
}

impl VerifyingKey {
    /// Reads 64 hex digits (surrounding whitespace ignored, as in a copied key file).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = unhex(text.trim())?;
        Some(Self(bytes.try_into().ok()?))
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Checks `envelope`'s signature over its encoding without the signature.
    pub fn verify(&self, envelope: &Envelope) -> Result<(), SignatureError> {
        let signature = envelope
            .signature
            .as_deref()
            .ok_or(SignatureError::Missing)?;
        let signature = unhex(signature)
            .filter(|bytes| bytes.len() == 64)
            .ok_or(SignatureError::Invalid)?;
        let mut unsigned = envelope.clone();
        unsigned.signature = None;
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(&unsigned.encode(), &signature)
            .map_err(|_| SignatureError::Invalid)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Cancel, Message};

    fn cancel() -> Envelope {
        Envelope::new(
            "orchestrator",
            Some("t1".into()),
            Message::Cancel(Cancel {
                task_id: "t1".into(),
                reason: "stop".into(),
            }),
        )
    }

    #[test]
    fn only_the_orchestrators_untouched_messages_verify() {
        let key = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
        let public = VerifyingKey::parse(&key.verifying_key().to_hex()).unwrap();
        let mut envelope = cancel();
        assert_eq!(public.verify(&envelope), Err(SignatureError::Missing));
        key.sign(&mut envelope);
        assert_eq!(public.verify(&envelope), Ok(()));
        let decoded = Envelope::decode(&envelope.encode()).unwrap();
        assert_eq!(public.verify(&decoded), Ok(()), "survives the wire");

        let mut tampered = envelope.clone();
        tampered.sender = "infra-1".into();
        assert_eq!(public.verify(&tampered), Err(SignatureError::Invalid));

        let other = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
        let mut forged = cancel();
        other.sign(&mut forged);
        assert_eq!(public.verify(&forged), Err(SignatureError::Invalid));
        assert!(VerifyingKey::parse("zz").is_none());
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }
}
