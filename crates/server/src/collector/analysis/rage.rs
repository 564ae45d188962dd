//! `rage_prompt`: [`AnalysisConfig::rage_count`] (3) or more prompts within
//! [`AnalysisConfig::rage_window_ms`] (120 s, inclusive) that repeat one request: each later
//! prompt, normalised, equals the first one of the group or has a word-set Jaccard
//! similarity to it of at least [`AnalysisConfig::rage_similarity`] (0.6). Groups are formed
//! greedily from the earliest prompt; a prompt belongs to at most one group. Prompts that
//! normalise to nothing (only emoji or punctuation) repeat nothing.

use super::text::{jaccard, quote, words};
use super::{AnalysisConfig, Conversation, Issue, IssueType, Kind};

/// The rage-prompt issues of `c`.
pub fn rage_prompts(c: &Conversation, cfg: &AnalysisConfig) -> Vec<Issue> {
    let prompts: Vec<_> = c
        .messages
        .iter()
        .filter(|m| m.kind == Kind::Prompt)
        .map(|m| (m, m.norm.as_str()))
        .collect();
    let mut used = vec![false; prompts.len()];
    let mut issues = Vec::new();
    for i in 0..prompts.len() {
        let (first, norm) = &prompts[i];
        if used[i] || norm.is_empty() {
            continue;
        }
        let first_words = words(norm);
        let mut group = vec![i];
        for (j, (m, other)) in prompts.iter().enumerate().skip(i + 1) {
            if m.timestamp - first.timestamp > cfg.rage_window_ms {
                break;
            }
            if used[j] || other.is_empty() {
                continue;
            }
            if other == norm || jaccard(&first_words, &words(other)) >= cfg.rage_similarity {
                group.push(j);
            }
        }
        if group.len() < cfg.rage_count.max(2) {
            continue;
        }
        for &j in &group {
            used[j] = true;
        }
        let last = prompts[group[group.len() - 1]].0;
        let seconds = (last.timestamp - first.timestamp) as f64 / 1000.0;
        issues.push(Issue {
            issue_type: IssueType::RagePrompt,
            message_ids: group.iter().map(|&j| prompts[j].0.id.clone()).collect(),
            reason: format!(
                "{} prompts within {seconds} s repeat one request: \"{}\"",
                group.len(),
                quote(&first.content, 60)
            ),
            at: last.timestamp,
        });
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn rage(texts: &[(&str, f64)]) -> Vec<Issue> {
        let messages = texts
            .iter()
            .enumerate()
            .map(|(i, (t, s))| msg(&format!("p{i}"), Kind::Prompt, t, *s))
            .collect();
        rage_prompts(&conv(messages), &AnalysisConfig::default())
    }

    #[test]
    fn three_repeats_within_the_window_raise_it_two_do_not() {
        assert!(rage(&[("Reset my password", 0.0), ("reset my password!", 10.0)]).is_empty());
        let issues = rage(&[
            ("Reset my password", 0.0),
            ("reset my password!", 10.0),
            ("RESET MY PASSWORD", 20.0),
        ]);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].message_ids, ["p0", "p1", "p2"]);
        assert_eq!(
            issues[0].reason,
            "3 prompts within 20 s repeat one request: \"Reset my password\""
        );
    }

    #[test]
    fn the_window_is_inclusive() {
        let within = rage(&[
            ("reset my password", 0.0),
            ("reset my password", 60.0),
            ("reset my password", 120.0),
        ]);
        assert_eq!(within.len(), 1);
        let outside = rage(&[
            ("reset my password", 0.0),
            ("reset my password", 60.0),
            ("reset my password", 120.001),
        ]);
        assert!(outside.is_empty());
    }

    #[test]
    fn similar_wording_counts_different_requests_do_not() {
        let similar = rage(&[
            ("how do I reset my password", 0.0),
            ("how can I reset my password", 5.0),
            ("reset my password how do I", 9.0),
        ]);
        assert_eq!(similar.len(), 1);
        let different = rage(&[
            ("how do I reset my password", 0.0),
            ("what is the weather in Berlin", 5.0),
            ("show me my invoices", 9.0),
        ]);
        assert!(different.is_empty());
        assert!(rage(&[("🙂", 0.0), ("🙂", 1.0), ("🙂", 2.0)]).is_empty());
    }
}
