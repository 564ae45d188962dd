//! When to try again: exponential backoff with full jitter, and `Retry-After`.

use agent_track_schema::calendar::days_from_civil;

/// First retry waits up to this long.
pub const BASE_MS: u64 = 1_000;
/// No retry waits longer than this, unless the server's `Retry-After` asks for more.
pub const CAP_MS: u64 = 60_000;
/// A `Retry-After` longer than this is clamped: a misconfigured server must not park a
/// page's events for hours.
pub const MAX_RETRY_AFTER_MS: u64 = 60 * 60 * 1000;

/// The delay before retry number `attempt` (0 for the first retry): a uniformly random time
/// in `[0, min(CAP_MS, BASE_MS * 2^attempt)]` ("full jitter"), `random` in `[0, 1)`.
pub fn delay_ms(attempt: u32, random: f64) -> u64 {
    let ceiling = BASE_MS.saturating_mul(1u64 << attempt.min(20)).min(CAP_MS);
    (ceiling as f64 * random.clamp(0.0, 1.0)) as u64
}

/// When to retry: not before `retry_after_ms` if the server gave one, else the jittered
/// backoff. Returns the absolute time in unix ms.
pub fn next_attempt_at(now_ms: u64, attempt: u32, random: f64, retry_after_ms: Option<u64>) -> u64 {
    match retry_after_ms {
        Some(ms) => now_ms + ms.min(MAX_RETRY_AFTER_MS),
        None => now_ms + delay_ms(attempt, random),
    }
}

/// Parses a `Retry-After` value: delta seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`). Returns milliseconds from `now_ms` (0 for a past
/// date), or `None` when the value is neither.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let at = parse_http_date(value)?;
    Some(at.saturating_sub(now_ms))
}

/// IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`, to unix ms.
fn parse_http_date(s: &str) -> Option<u64> {
    let mut parts = s.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == month_name)? as u64
        + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, month as i64, day as i64)).ok()?;
    Some((days * 86_400 + h * 3600 + m * 60 + sec) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_grows_and_is_capped() {
        assert_eq!(delay_ms(0, 0.0), 0);
        assert_eq!(delay_ms(0, 0.5), 500);
        assert_eq!(delay_ms(3, 0.999_999), 7_999);
        assert_eq!(delay_ms(10, 0.5), CAP_MS / 2);
        assert_eq!(delay_ms(u32::MAX, 1.0), CAP_MS);
    }

    #[test]
    fn retry_after_wins_over_backoff_and_is_clamped() {
        assert_eq!(next_attempt_at(1_000, 0, 0.9, Some(30_000)), 31_000);
        assert_eq!(next_attempt_at(1_000, 0, 0.5, None), 1_500);
        assert_eq!(
            next_attempt_at(0, 0, 0.0, Some(u64::MAX)),
            MAX_RETRY_AFTER_MS
        );
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(parse_retry_after("120", 0), Some(120_000));
        assert_eq!(parse_retry_after(" 0 ", 0), Some(0));
        assert_eq!(parse_retry_after("-1", 0), None);
        assert_eq!(parse_retry_after("soon", 0), None);
    }

    #[test]
    fn retry_after_as_http_date() {
        // 1994-11-06T08:49:37Z = 784111777 s.
        let at = 784_111_777_000;
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at - 5_000),
            Some(5_000)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + 5_000),
            Some(0)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sat, 21 Nov 2026 10:00:00 GMT"),
            Some(1_795_255_200_000)
        );
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 PST"), None);
        assert_eq!(parse_http_date("Sun, 32 Nov 1994 08:49:37 GMT"), None);
    }
}
