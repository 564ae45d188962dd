//! Times of the read API: RFC 3339 or unix milliseconds in, unix milliseconds out, and
//! RFC 3339 (UTC, milliseconds) in transcripts. No calendar dependency: the two conversions
//! are Howard Hinnant's `days_from_civil` and `civil_from_days`.

use agent_track_schema::calendar::{civil_from_days, days_from_civil};

/// The latest time the collector stores or accepts: 9999-12-31T23:59:59.999Z, in unix ms.
/// Later timestamps would not print as four-digit years.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// What a time parameter accepts, for error messages.
pub const ALLOWED: &str =
    "an RFC 3339 time such as 2026-11-21T10:00:00Z or unix milliseconds such as 1763719200000";

/// Parses `text` as unix milliseconds (digits only) or an RFC 3339 date-time, into unix ms
/// in `0..=MAX_MS`. A space where the offset sign belongs is read as `+` (an unencoded `+`
/// in a query string arrives as a space).
pub fn parse(text: &str) -> Option<i64> {
    let ms = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<i64>().ok()?
    } else {
        parse_rfc3339(text)?
    };
    (0..=MAX_MS).contains(&ms).then_some(ms)
}

fn number(bytes: Option<&[u8]>) -> Option<i64> {
    let bytes = bytes?;
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0i64, |n, b| n * 10 + i64::from(b - b'0')))
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (
        number(b.get(0..4))?,
        number(b.get(5..7))?,
        number(b.get(8..10))?,
    );
    let (hour, minute, second) = (
        number(b.get(11..13))?,
        number(b.get(14..16))?,
        number(b.get(17..19))?,
    );
    let mut i = 19;
    let mut millis = 0;
    if at(i, b".") {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        // Milliseconds: the first three digits, padded; finer digits are dropped.
        let digits = &b[start..i.min(start + 3)];
        millis = number(Some(digits))? * 10i64.pow(3 - digits.len() as u32);
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-' | b' ')) => {
            if !at(i + 3, b":") {
                return None;
            }
            let (h, m) = (number(b.get(i + 1..i + 3))?, number(b.get(i + 4..i + 6))?);
            if h > 23 || m > 59 {
                return None;
            }
            i += 6;
            if sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    if i != b.len() || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // 60 is a leap second; it reads as the first second of the next minute.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_min * 60;
    Some(seconds * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Unix ms as RFC 3339 in UTC with milliseconds: `2026-11-21T10:00:00.000Z`.
pub fn format(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (s, millis) = (rest / 1000, rest % 1000);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_unix_ms_and_rfc3339() {
        assert_eq!(parse("1763719200000"), Some(1_763_719_200_000));
        assert_eq!(parse("2025-11-21T10:00:00Z"), Some(1_763_719_200_000));
        assert_eq!(parse("2025-11-21t10:00:00z"), Some(1_763_719_200_000));
        assert_eq!(parse("2025-11-21 10:00:00Z"), Some(1_763_719_200_000));
        assert_eq!(parse("2025-11-21T11:00:00+01:00"), Some(1_763_719_200_000));
        assert_eq!(
            parse("2025-11-21T11:00:00 01:00"),
            Some(1_763_719_200_000),
            "decoded +"
        );
        assert_eq!(parse("2025-11-21T09:30:00-00:30"), Some(1_763_719_200_000));
        assert_eq!(parse("2025-11-21T10:00:00.5Z"), Some(1_763_719_200_500));
        assert_eq!(
            parse("2025-11-21T10:00:00.123456789Z"),
            Some(1_763_719_200_123)
        );
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(parse("9999-12-31T23:59:59.999Z"), Some(MAX_MS));
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "now",
            "-5",
            "2025-11-21",
            "2025-11-21T10:00:00",
            "2025-11-21T10:00Z",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2025-11-21T24:00:00Z",
            "2025-11-21T10:60:00Z",
            "2025-11-21T10:00:00.Z",
            "2025-11-21T10:00:00+1:00",
            "2025-11-21T10:00:00+01:00x",
            "1969-12-31T23:59:59Z",
            "99999999999999999999",
            "2025-11-21T10:00:00é",
            "２０２５-11-21T10:00:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format(1_763_719_200_123), "2025-11-21T10:00:00.123Z");
        assert_eq!(format(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(format(MAX_MS), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn parse_and_format_round_trip_across_years() {
        let mut ms = 0;
        while ms < MAX_MS {
            assert_eq!(parse(&format(ms)), Some(ms), "{}", format(ms));
            ms += 9_876_543_210_987 / 100;
        }
    }
}
