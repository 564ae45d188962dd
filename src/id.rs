//! Event ids: UUIDv7 (RFC 9562) whose text sorts in the order the events were tracked.
//!
//! The first 48 bits are the unix time in milliseconds, the next 12 a per-page counter
//! (RFC 9562 "fixed bit-length dedicated counter") that keeps ids generated within one
//! millisecond in order, the rest random. The clock is never allowed to go backwards, so a
//! page's ids are strictly increasing.

/// Generates increasing UUIDv7 strings.
#[derive(Debug, Default)]
pub struct IdGen {
    last_ms: u64,
    counter: u16,
}

impl IdGen {
    /// The next id for time `now_ms` and 8 random bytes. Never equal to or below an earlier id
    /// of this generator, even if the clock steps back.
    pub fn next(&mut self, now_ms: u64, random: [u8; 8]) -> String {
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
            self.counter = 0;
        } else if self.counter == 0x0FFF {
            // 4096 ids in one millisecond: borrow the next millisecond.
            self.last_ms += 1;
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        format_v7(self.last_ms, self.counter, random)
    }
}

/// Formats the UUIDv7 of `ms`, a 12-bit `counter` and 62 random bits (the top two bits of
/// `random[0]` are replaced by the variant).
pub fn format_v7(ms: u64, counter: u16, random: [u8; 8]) -> String {
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70 | ((counter >> 8) as u8 & 0x0F);
    b[7] = counter as u8;
    b[8..].copy_from_slice(&random);
    b[8] = (b[8] & 0x3F) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        s.push(HEX[(byte >> 4) as usize] as char);
        s.push(HEX[(byte & 0xF) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_rfc_9562() {
        let id = format_v7(0x0189_1234_5678, 0xABC, [0xFF; 8]);
        assert_eq!(id, "01891234-5678-7abc-bfff-ffffffffffff");
        assert_eq!(id.len(), 36);
    }

    #[test]
    fn ids_increase_within_a_millisecond_and_when_the_clock_steps_back() {
        let mut g = IdGen::default();
        let a = g.next(1_000, [0xFF; 8]);
        let b = g.next(1_000, [0x00; 8]);
        let c = g.next(999, [0x00; 8]);
        let d = g.next(1_001, [0x00; 8]);
        assert!(a < b && b < c && c < d, "{a} {b} {c} {d}");
    }

    #[test]
    fn the_counter_overflows_into_the_next_millisecond() {
        let mut g = IdGen::default();
        let mut prev = g.next(5, [0; 8]);
        for _ in 0..5000 {
            let next = g.next(5, [0; 8]);
            assert!(next > prev);
            prev = next;
        }
    }
}
