//! `repeated_answer`: the agent gives the same answer (equal after normalising) to two or
//! more different prompts (prompts whose normalised texts differ). An answer's prompt is the
//! latest prompt before it. One issue per repeated answer, naming every response that
//! repeats it.

use std::collections::BTreeMap;

use super::text::quote;
use super::{Conversation, Issue, IssueType, Kind, Message};

/// The repeated-answer issues of `c`.
pub fn repeated_answers(c: &Conversation) -> Vec<Issue> {
    // normalised answer -> (responses, distinct normalised prompts)
    let mut groups: BTreeMap<String, (Vec<&Message>, Vec<String>)> = BTreeMap::new();
    let mut prompt: Option<String> = None;
    for m in &c.messages {
        match m.kind {
            Kind::Prompt => prompt = Some(m.norm.clone()),
            Kind::Response => {
                let answer = m.norm.clone();
                let Some(p) = &prompt else { continue };
                if answer.is_empty() {
                    continue;
                }
                let g = groups.entry(answer).or_default();
                g.0.push(m);
                if !g.1.contains(p) {
                    g.1.push(p.clone());
                }
            }
            Kind::Trace => {}
        }
    }
    let mut issues: Vec<Issue> = groups
        .into_values()
        .filter(|(_, prompts)| prompts.len() >= 2)
        .map(|(responses, prompts)| Issue {
            issue_type: IssueType::RepeatedAnswer,
            message_ids: responses.iter().map(|m| m.id.clone()).collect(),
            reason: format!(
                "the same answer to {} different prompts: \"{}\"",
                prompts.len(),
                quote(&responses[0].content, 60)
            ),
            at: responses[1].timestamp,
        })
        .collect();
    issues.sort_by_key(|i| i.at);
    issues
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn the_same_answer_to_different_prompts() {
        let c = conv(vec![
            msg("p1", Kind::Prompt, "Where is my order?", 0.0),
            msg("r1", Kind::Response, "Please contact support.", 1.0),
            msg("p2", Kind::Prompt, "Can I get a refund?", 2.0),
            msg("r2", Kind::Response, "please contact support", 3.0),
            msg("p3", Kind::Prompt, "thanks", 4.0),
            msg("r3", Kind::Response, "You're welcome", 5.0),
        ]);
        let issues = repeated_answers(&c);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].message_ids, ["r1", "r2"]);
        assert_eq!(
            issues[0].reason,
            "the same answer to 2 different prompts: \"Please contact support.\""
        );
    }

    #[test]
    fn the_same_answer_to_the_same_prompt_is_not_repeated() {
        let c = conv(vec![
            msg("p1", Kind::Prompt, "Where is my order?", 0.0),
            msg("r1", Kind::Response, "It ships today.", 1.0),
            msg("p2", Kind::Prompt, "where is my order", 2.0),
            msg("r2", Kind::Response, "It ships today.", 3.0),
        ]);
        assert!(repeated_answers(&c).is_empty());
    }
}
