//! SQL text for PostgreSQL from the SQLite-style text the collector writes once: `?N`
//! placeholders become `$N`, and a bare `?` becomes the next number after the largest used so
//! far (SQLite's own rule). Quoted strings, quoted identifiers and comments are left alone.

/// `sql` with PostgreSQL placeholders.
pub fn to_postgres(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut largest = 0u32;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'?' => {
                out.push_str(&sql[copied..i]);
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && bytes[end].is_ascii_digit() {
                    end += 1;
                }
                let n = if end > start {
                    sql[start..end].parse().unwrap_or(u32::MAX)
                } else {
                    largest + 1
                };
                largest = largest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
                i = end;
                copied = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_and_bare_placeholders() {
        assert_eq!(
            to_postgres("a = ?1 AND b = ?2 OR c = ?1"),
            "a = $1 AND b = $2 OR c = $1"
        );
        assert_eq!(
            to_postgres("a = ? AND b = ? LIMIT ?"),
            "a = $1 AND b = $2 LIMIT $3"
        );
        assert_eq!(to_postgres("a = ?2 AND b = ?"), "a = $2 AND b = $3");
    }

    #[test]
    fn strings_identifiers_and_comments_are_kept() {
        assert_eq!(
            to_postgres("x LIKE '%?%' ESCAPE '\\' AND \"a?\" = ? -- why?\n AND y = ?"),
            "x LIKE '%?%' ESCAPE '\\' AND \"a?\" = $1 -- why?\n AND y = $2"
        );
    }
}
