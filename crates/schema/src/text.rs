//! Building messages without `core::fmt`: the browser module ships every byte it links, and
//! `format!` pulls the formatting machinery (and with `{:?}` Unicode tables) into the wasm
//! module. These few functions concatenate strings and write numbers and JSON strings.

/// Concatenates string pieces: `cat!["a", &b, num(3)]`.
#[macro_export]
macro_rules! cat {
    ($($piece:expr),* $(,)?) => {{
        let mut s = ::std::string::String::new();
        $( s.push_str(::core::convert::AsRef::<str>::as_ref(&$piece)); )*
        s
    }};
}

/// The index (0 to 7) of the first of the eight bytes of `word` that is a quote, a backslash
/// or a control character (below 0x20): the bytes that end or escape a JSON string, or must
/// be escaped in one; `None` when there is none, so that the word can be skipped whole. The
/// "has a zero byte" test on words: a byte can be flagged wrongly only above a flagged one,
/// so the lowest flag is exact.
pub(crate) fn first_special(word: [u8; 8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let x = u64::from_le_bytes(word);
    let quote = x ^ (ONES * b'"' as u64);
    let backslash = x ^ (ONES * b'\\' as u64);
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v;
    let flags = (zero_in(quote) | zero_in(backslash) | (x.wrapping_sub(ONES * 0x20) & !x)) & HIGHS;
    (flags != 0).then(|| flags.trailing_zeros() as usize / 8)
}

/// Appends the decimal digits of `n`.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for d in &digits[i..] {
        out.push(char::from(*d));
    }
}

/// The decimal digits of `n`.
pub fn num(n: u64) -> String {
    let mut s = String::new();
    push_u64(&mut s, n);
    s
}

/// Appends `s` as a JSON string literal, escaped as `serde_json` and `JSON.stringify` do:
/// `"` `\` and the control characters below U+0020 (`\n`, `\t`, ... or `\u00XX`).
pub fn push_json_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        // Eight bytes at a time over a run with nothing to escape, then straight to the byte
        // that needs it; byte by byte over the last few.
        while let Some(chunk) = bytes
            .get(i..i + 8)
            .and_then(|c| <[u8; 8]>::try_from(c).ok())
        {
            match first_special(chunk) {
                None => i += 8,
                Some(at) => {
                    i += at;
                    break;
                }
            }
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        i += 1;
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `get`, not indexing: both ends are ASCII, and no panic path joins the module.
        out.push_str(s.get(start..i - 1).unwrap_or_default());
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// The items joined with `, ` (what `[..].join(", ")` gives, without its generic code).
pub fn list(items: &[&str]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(item);
    }
    out
}

/// How many characters `s` has (counted by hand: `chars().count()` brings a large
/// vectorised counter into the wasm module).
pub fn char_count(s: &str) -> usize {
    s.bytes().filter(|b| (b & 0xC0) != 0x80).count()
}

/// Where `needle` first occurs in `haystack` (a plain byte search: `str::find` with a string
/// pattern brings the Two-Way searcher into the wasm module).
pub fn find(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

/// `s` as a JSON string literal, for messages. Not `{:?}`: Rust's Debug escaping is another
/// syntax and pulls Unicode tables into the wasm module.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    out
}

/// The first `max_chars` characters of `s`, with `...` when cut.
pub fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_string(),
        Some((at, _)) => cat![s.get(..at).unwrap_or_default(), "..."],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_special_byte_of_a_word_is_found_exactly() {
        for byte in 0..=255u8 {
            let special = byte == b'"' || byte == b'\\' || byte < 0x20;
            for at in 0..8 {
                for filler in [b'a', 0xe9, 0x7f, 0x20, 0xff] {
                    let mut word = [filler; 8];
                    word[at] = byte;
                    // The filler is never special: the byte is the first, or there is none.
                    assert_eq!(
                        first_special(word),
                        special.then_some(at),
                        "{byte:#x} at {at} among {filler:#x}"
                    );
                }
            }
        }
        // Several special bytes (a borrow from one can flag the byte above it): the first.
        let specials = [b'"', b'\\', 0x00, 0x01, 0x1f, b'\n'];
        for (first, second) in specials
            .iter()
            .flat_map(|a| specials.iter().map(move |b| (a, b)))
        {
            for at in 0..7 {
                for later in at + 1..8 {
                    let mut word = [0x20; 8];
                    word[at] = *first;
                    word[later] = *second;
                    assert_eq!(first_special(word), Some(at), "{word:?}");
                }
            }
        }
    }

    #[test]
    fn numbers_are_decimal() {
        for n in [0, 7, 10, 99, 100, 12_345, u64::MAX] {
            assert_eq!(num(n), n.to_string());
        }
    }

    #[test]
    fn strings_escape_like_serde_json() {
        for s in [
            "plain",
            "a\"b\\c",
            "line\nnext\ttab\r",
            "\u{1}\u{1f}\u{8}\u{c}",
            "é 日本 🙂 /",
            // Runs longer than the eight bytes skipped at once, escapes inside and between them.
            "0123456789abcdef\"0123456\n89abcdef0123456789\u{1}",
            "\"\"\"\"\"\"\"\"\"x",
            "ééééééééé\\",
        ] {
            assert_eq!(quote(s), serde_json::to_string(s).unwrap(), "{s}");
        }
        // Every byte at every position of a 24-byte run.
        for at in 0..24 {
            for c in ['"', '\\', '\n', '\u{1f}', 'é', 'x'] {
                let mut s: String = "a".repeat(24);
                s.replace_range(at..at + 1, &c.to_string());
                assert_eq!(quote(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
            }
        }
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("héllo", 3), "hél...");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(cat!["a", String::from("b"), num(3)], "ab3");
    }
}
