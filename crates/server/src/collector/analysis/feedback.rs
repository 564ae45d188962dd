//! `negative_feedback`: a message whose current reaction (after un-react and latest-wins) is
//! `negative`. One issue per message; the reason carries the comments.

use super::text::quote;
use super::{Conversation, Issue, IssueType};

/// The negative-feedback issues of `c`.
pub fn negative_feedback(c: &Conversation) -> Vec<Issue> {
    c.reactions
        .iter()
        .filter(|r| r.negative)
        .map(|r| {
            let comments: Vec<String> = r.comments.iter().map(|t| quote(t, 100)).collect();
            let reason = if comments.is_empty() {
                format!("negative reaction to {} (no comment)", r.message_id)
            } else {
                format!(
                    "negative reaction to {}: \"{}\"",
                    r.message_id,
                    comments.join("\", \"")
                )
            };
            Issue {
                issue_type: IssueType::NegativeFeedback,
                message_ids: vec![r.message_id.clone()],
                reason,
                at: r.timestamp,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Reaction;
    use super::*;

    #[test]
    fn only_current_negative_reactions_with_their_comments() {
        let c = Conversation {
            reactions: vec![
                Reaction {
                    message_id: "r1".into(),
                    negative: true,
                    comments: vec!["too short".into(), "wrong".into()],
                    timestamp: 5,
                },
                Reaction {
                    message_id: "r2".into(),
                    negative: false,
                    comments: vec![],
                    timestamp: 6,
                },
                Reaction {
                    message_id: "r3".into(),
                    negative: true,
                    comments: vec![],
                    timestamp: 7,
                },
            ],
            ..Default::default()
        };
        let issues = negative_feedback(&c);
        assert_eq!(issues.len(), 2);
        assert_eq!(issues[0].message_ids, ["r1"]);
        assert_eq!(
            issues[0].reason,
            "negative reaction to r1: \"too short\", \"wrong\""
        );
        assert_eq!(issues[1].reason, "negative reaction to r3 (no comment)");
    }
}
