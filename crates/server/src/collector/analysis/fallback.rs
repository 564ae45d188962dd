//! `fallback_answer`: an `agent_response` saying the agent cannot help: its normalised text
//! contains a phrase of [`AnalysisConfig::fallback_phrases`] as whole words (English by
//! default; `--fallback-phrases FILE` adds phrases in any language, one per line).

use super::{AnalysisConfig, Conversation, Issue, IssueType, Kind, Message};

/// The fallback phrase `m` matches, when it is an answer that matches one.
pub fn phrase<'a>(m: &Message, cfg: &'a AnalysisConfig) -> Option<&'a str> {
    if m.kind != Kind::Response {
        return None;
    }
    cfg.fallback_phrases.find(&m.norm)
}

/// The fallback-answer issues of `c`.
pub fn fallback_answers(c: &Conversation, cfg: &AnalysisConfig) -> Vec<Issue> {
    c.messages
        .iter()
        .filter_map(|m| {
            phrase(m, cfg).map(|p| Issue {
                issue_type: IssueType::FallbackAnswer,
                message_ids: vec![m.id.clone()],
                reason: format!("answer {} says the agent cannot help (\"{p}\")", m.id),
                at: m.timestamp,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn answers_matching_a_phrase_prompts_never() {
        let mut cfg = AnalysisConfig::default();
        cfg.fallback_phrases.extend(["Das weiß ich nicht"]);
        let c = conv(vec![
            msg("p1", Kind::Prompt, "I don't know what to ask", 0.0),
            msg("r1", Kind::Response, "Sorry, I DON'T KNOW.", 1.0),
            msg("r2", Kind::Response, "Here is your invoice.", 2.0),
            msg("r3", Kind::Response, "Leider: das weiß ich nicht!", 3.0),
            msg("r4", Kind::Response, "Could you rephrase that?", 4.0),
        ]);
        let issues = fallback_answers(&c, &cfg);
        let ids: Vec<_> = issues.iter().map(|i| i.message_ids[0].as_str()).collect();
        assert_eq!(ids, ["r1", "r3", "r4"]);
        assert_eq!(
            issues[0].reason,
            "answer r1 says the agent cannot help (\"i dont know\")"
        );
    }
}
