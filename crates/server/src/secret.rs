//! [`Secrets`]: the Standard Webhooks shared secrets (`whsec_` + base64 of 24 to 64 random
//! bytes). They never leave the server process: `Debug` and `Display` are redacted, and
//! parse errors never echo the value.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// One secret's decoded key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

/// One or more secrets, for rotation: the first signs, every one verifies.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets(Vec<Secret>);

/// Why a secret was refused. The messages never contain the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No secret was given.
    #[error("no secret: set AGENT_TRACK_SECRET (or --secret-file) to one or more whsec_ secrets")]
    Missing,
    /// Secret number `n` (1-based) does not start with `whsec_`.
    #[error("secret #{0} must start with `whsec_`")]
    Prefix(usize),
    /// Secret number `n` is not valid base64 after `whsec_`.
    #[error("secret #{0} is not valid base64 after `whsec_`")]
    Base64(usize),
    /// Secret number `n` decodes to `len` bytes, not 24 to 64.
    #[error("secret #{0} decodes to {1} bytes; it must be 24 to 64 random bytes")]
    Length(usize, usize),
}

impl Secret {
    /// Parses `whsec_<base64>`; `n` numbers it in errors.
    fn parse(text: &str, n: usize) -> Result<Secret, SecretError> {
        let b64 = text.strip_prefix("whsec_").ok_or(SecretError::Prefix(n))?;
        let key = STANDARD.decode(b64).map_err(|_| SecretError::Base64(n))?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length(n, key.len()));
        }
        Ok(Secret(key))
    }

    /// The HMAC key.
    pub fn key(&self) -> &[u8] {
        &self.0
    }
}

impl Secrets {
    /// Parses a space-separated list of `whsec_` secrets.
    pub fn parse(text: &str) -> Result<Secrets, SecretError> {
        let list = text
            .split_whitespace()
            .enumerate()
            .map(|(i, s)| Secret::parse(s, i + 1))
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err(SecretError::Missing);
        }
        Ok(Secrets(list))
    }

    /// The secret that signs.
    pub fn signing(&self) -> &Secret {
        &self.0[0]
    }

    /// Every secret, for verification.
    pub fn all(&self) -> &[Secret] {
        &self.0
    }

    /// A new secret: `whsec_` + base64 of 32 random bytes from the OS.
    pub fn generate() -> String {
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut key);
        format!("whsec_{}", STANDARD.encode(key))
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn parses_one_or_several() {
        assert_eq!(Secrets::parse(KNOWN).unwrap().all().len(), 1);
        let two = format!("{KNOWN}  {}", Secrets::generate());
        let s = Secrets::parse(&two).unwrap();
        assert_eq!(s.all().len(), 2);
        assert_eq!(s.signing().key().len(), 24);
    }

    #[test]
    fn errors_name_the_secret_by_number_never_by_value() {
        assert_eq!(Secrets::parse(""), Err(SecretError::Missing));
        assert_eq!(
            Secrets::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::Prefix(1))
        );
        assert_eq!(
            Secrets::parse(&format!("{KNOWN} whsec_!!")),
            Err(SecretError::Base64(2))
        );
        let short = format!("whsec_{}", STANDARD.encode([1u8; 8]));
        let err = Secrets::parse(&short).unwrap_err();
        assert_eq!(err, SecretError::Length(1, 8));
        assert!(!err.to_string().contains(&short[6..]));
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secrets::parse(KNOWN).unwrap();
        let shown = format!("{s:?} {:?}", s.signing());
        assert!(!shown.contains("MfKQ"), "{shown}");
    }

    #[test]
    fn generated_secrets_parse() {
        let g = Secrets::generate();
        assert!(g.starts_with("whsec_"));
        assert_eq!(Secrets::parse(&g).unwrap().signing().key().len(), 32);
        assert_ne!(g, Secrets::generate());
    }
}
