//! Standard Webhooks v1 signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`, one per secret, space-separated. Verification compares in
//! constant time and enforces a timestamp tolerance.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::{Secret, Secrets};

/// Header names of the scheme.
pub const ID: &str = "webhook-id";
/// Unix seconds of this attempt.
pub const TIMESTAMP: &str = "webhook-timestamp";
/// `v1,<sig>` entries.
pub const SIGNATURE: &str = "webhook-signature";

/// How far a `webhook-timestamp` may be from the receiver's clock, in seconds.
pub const TOLERANCE_S: i64 = 300;

fn mac(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    let mut m =
        Hmac::<Sha256>::new_from_slice(secret.key()).expect("HMAC takes keys of any length");
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}

/// The `webhook-signature` value for `body`: one `v1,` entry per secret (the first is the
/// signing secret), space-separated.
pub fn sign(secrets: &Secrets, id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .all()
        .iter()
        .map(|s| format!("v1,{}", STANDARD.encode(mac(s, id, timestamp, body))))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a delivery was refused. Messages say what was wrong, never what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent or empty.
    #[error("the {0} header is required")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not unix seconds.
    #[error("{TIMESTAMP} must be unix seconds")]
    BadTimestamp,
    /// The timestamp is more than the tolerance away from now.
    #[error("{TIMESTAMP} is {skew_s} s from now; at most {TOLERANCE_S} s are allowed")]
    Stale {
        /// Seconds between the timestamp and now.
        skew_s: i64,
    },
    /// No `v1,` entry matches any configured secret (forged, stripped, empty, or signed with
    /// an unknown secret).
    #[error("no valid v1 signature in {SIGNATURE}")]
    NoMatch,
}

/// A delivery's headers, checked before its body is read: present, well-formed, the
/// timestamp within [`TOLERANCE_S`] of now, and at least one `v1,` signature of the right
/// length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedHeaders<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp`, unix seconds.
    pub timestamp: i64,
    candidates: Vec<[u8; 32]>,
}

/// Checks a delivery's headers at `now_s`, without the body. A receiver calls this first
/// and reads the body only when it passes.
pub fn check_headers<'a>(
    id: Option<&'a str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    now_s: i64,
) -> Result<CheckedHeaders<'a>, VerifyError> {
    fn non_empty<'a>(v: Option<&'a str>, h: &'static str) -> Result<&'a str, VerifyError> {
        v.filter(|s| !s.trim().is_empty())
            .ok_or(VerifyError::MissingHeader(h))
    }
    let id = non_empty(id, ID)?;
    let timestamp_text = non_empty(timestamp, TIMESTAMP)?;
    let signature = non_empty(signature, SIGNATURE)?;
    let timestamp: i64 = timestamp_text
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let skew_s = now_s.saturating_sub(timestamp);
    if skew_s.abs() > TOLERANCE_S {
        return Err(VerifyError::Stale { skew_s });
    }
    let candidates: Vec<[u8; 32]> = signature
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .filter_map(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::NoMatch);
    }
    Ok(CheckedHeaders {
        id,
        timestamp,
        candidates,
    })
}

/// Verifies the body against checked headers, in constant time per candidate.
pub fn verify_body(
    secrets: &Secrets,
    headers: &CheckedHeaders<'_>,
    body: &[u8],
) -> Result<(), VerifyError> {
    let mut matched = subtle::Choice::from(0);
    for secret in secrets.all() {
        let expected = mac(secret, headers.id, headers.timestamp, body);
        for candidate in &headers.candidates {
            matched |= expected.as_slice().ct_eq(candidate);
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

/// Verifies a delivery's headers against the raw body bytes: [`check_headers`], then
/// [`verify_body`].
pub fn verify(
    secrets: &Secrets,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), VerifyError> {
    let checked = check_headers(id, timestamp, signature, now_s)?;
    verify_body(secrets, &checked, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID_: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    fn secrets() -> Secrets {
        Secrets::parse(SECRET).unwrap()
    }

    #[test]
    fn the_known_answer_vector() {
        assert_eq!(
            sign(&secrets(), ID_, TS, BODY),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn an_independent_implementation_verifies_our_signatures() {
        let body = br#"{"events":[{"eventId":"e1"}]}"#;
        let sig = sign(&secrets(), "batch_1", TS, body);
        let wh = standardwebhooks::Webhook::new(SECRET).unwrap();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(ID, "batch_1".parse().unwrap());
        headers.insert(TIMESTAMP, TS.to_string().parse().unwrap());
        headers.insert(SIGNATURE, sig.parse().unwrap());
        // The library checks the timestamp against its own clock, so sign with now.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        headers.insert(TIMESTAMP, now.to_string().parse().unwrap());
        headers.insert(
            SIGNATURE,
            sign(&secrets(), "batch_1", now, body).parse().unwrap(),
        );
        wh.verify(body, &headers)
            .expect("standardwebhooks accepts our signature");
        // And ours accepts theirs.
        let theirs = wh.sign("batch_2", now, body).unwrap();
        assert_eq!(
            verify(
                &secrets(),
                Some("batch_2"),
                Some(&now.to_string()),
                Some(&theirs),
                body,
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn rotation_signs_with_every_secret_and_verifies_with_any() {
        let new = Secrets::generate();
        let both = Secrets::parse(&format!("{new} {SECRET}")).unwrap();
        let header = sign(&both, ID_, TS, BODY);
        assert_eq!(header.split(' ').count(), 2);
        // A receiver that only knows the old secret accepts it.
        assert_eq!(
            verify(
                &secrets(),
                Some(ID_),
                Some(&TS.to_string()),
                Some(&header),
                BODY,
                TS
            ),
            Ok(())
        );
    }

    #[test]
    fn forged_stripped_empty_and_stale_are_refused() {
        let ts = TS.to_string();
        let good = sign(&secrets(), ID_, TS, BODY);
        let v = |id, t: Option<&str>, s: Option<&str>, body: &[u8], now| {
            verify(&secrets(), id, t, s, body, now)
        };
        assert_eq!(v(Some(ID_), Some(&ts), Some(&good), BODY, TS), Ok(()));
        assert_eq!(
            v(
                Some(ID_),
                Some(&ts),
                Some(&good),
                br#"{"test": 2432232315}"#,
                TS
            ),
            Err(VerifyError::NoMatch),
            "body changed"
        );
        assert_eq!(
            v(Some("msg_other"), Some(&ts), Some(&good), BODY, TS),
            Err(VerifyError::NoMatch),
            "id changed"
        );
        assert_eq!(
            v(Some(ID_), Some(&ts), None, BODY, TS),
            Err(VerifyError::MissingHeader(SIGNATURE)),
            "stripped"
        );
        assert_eq!(
            v(Some(ID_), Some(&ts), Some("v1,"), BODY, TS),
            Err(VerifyError::NoMatch),
            "empty v1,"
        );
        assert_eq!(
            v(Some(ID_), Some(&ts), Some("v2,abc v1,@@@"), BODY, TS),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            v(Some(ID_), Some(&ts), Some(&good), BODY, TS + 301),
            Err(VerifyError::Stale { skew_s: 301 })
        );
        assert_eq!(
            v(Some(ID_), Some(&ts), Some(&good), BODY, TS - 301),
            Err(VerifyError::Stale { skew_s: -301 })
        );
        assert_eq!(v(Some(ID_), Some(&ts), Some(&good), BODY, TS + 300), Ok(()));
        assert_eq!(
            v(Some(ID_), Some("soon"), Some(&good), BODY, TS),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            v(None, Some(&ts), Some(&good), BODY, TS),
            Err(VerifyError::MissingHeader(ID))
        );
        let other = Secrets::parse(&Secrets::generate()).unwrap();
        assert_eq!(
            verify(&other, Some(ID_), Some(&ts), Some(&good), BODY, TS),
            Err(VerifyError::NoMatch),
            "unknown secret"
        );
    }
}
