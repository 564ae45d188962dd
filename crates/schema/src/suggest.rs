//! "Did you mean": the closest known name to a misspelt one.

/// The candidate closest to `name`: an exact match ignoring case and `_`/`-`, else the one at
/// the smallest edit distance if that distance is at most a third of the name's length
/// (at least 2). `None` when nothing is close enough to be a useful hint.
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let folded = fold(name);
    if let Some(c) = candidates.iter().find(|c| fold(c) == folded) {
        return Some(c);
    }
    let budget = (crate::text::char_count(name) / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(&folded, &fold(c)), *c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Without `_` and `-`, ASCII letters lower-cased (names are ASCII; full Unicode case
/// folding would add its tables to the wasm module for nothing).
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Levenshtein distance over chars, in O(len(a) * len(b)) time and O(len(b)) space.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &[
        "agentId",
        "conversationId",
        "messageId",
        "content",
        "toolsUsed",
    ];

    #[test]
    fn case_and_separators_are_folded() {
        assert_eq!(closest("conversationID", KNOWN), Some("conversationId"));
        assert_eq!(closest("conversation_id", KNOWN), Some("conversationId"));
        assert_eq!(closest("TOOLS-USED", KNOWN), Some("toolsUsed"));
    }

    #[test]
    fn typos_within_budget_are_found() {
        assert_eq!(closest("mesageId", KNOWN), Some("messageId"));
        assert_eq!(closest("contnet", KNOWN), Some("content"));
    }

    #[test]
    fn unrelated_names_get_no_hint() {
        assert_eq!(closest("price", KNOWN), None);
        assert_eq!(closest("", KNOWN), None);
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }
}
