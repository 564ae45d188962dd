//! `frustration`: a prompt with a frustration signal, checked in this order:
//!
//! - mostly upper case: upper-case letters ÷ cased letters ≥
//!   [`AnalysisConfig::caps_ratio`] (0.7) over at least
//!   [`AnalysisConfig::caps_min_letters`] (10) cased letters;
//! - a run of [`AnalysisConfig::mark_run`] (3) or more `!`/`?` (ASCII or full-width);
//! - a phrase of [`AnalysisConfig::frustration_phrases`] ("that's wrong", "not what I
//!   asked", "useless", …; `--frustration-phrases FILE` adds more).

use super::text::{longest_mark_run, upper_share};
use super::{AnalysisConfig, Conversation, Issue, IssueType, Kind, Message};

/// Why `m` reads as frustrated, when it does.
pub fn signal(m: &Message, cfg: &AnalysisConfig) -> Option<String> {
    let (share, cased) = upper_share(&m.content);
    if cased >= cfg.caps_min_letters && share >= cfg.caps_ratio {
        return Some(format!(
            "mostly upper case ({:.0}% of {cased} letters)",
            share * 100.0
        ));
    }
    let run = longest_mark_run(&m.content);
    if cfg.mark_run > 0 && run.chars().count() >= cfg.mark_run {
        return Some(format!("a run of \"{run}\""));
    }
    cfg.frustration_phrases
        .find(&m.norm)
        .map(|p| format!("the phrase \"{p}\""))
}

/// The frustration issues of `c`, one per prompt.
pub fn frustrated_prompts(c: &Conversation, cfg: &AnalysisConfig) -> Vec<Issue> {
    c.messages
        .iter()
        .filter(|m| m.kind == Kind::Prompt)
        .filter_map(|m| {
            signal(m, cfg).map(|why| Issue {
                issue_type: IssueType::Frustration,
                message_ids: vec![m.id.clone()],
                reason: format!("prompt {} shows frustration: {why}", m.id),
                at: m.timestamp,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn why(text: &str) -> Option<String> {
        signal(
            &msg("p", Kind::Prompt, text, 0.0),
            &AnalysisConfig::default(),
        )
    }

    #[test]
    fn signals() {
        assert_eq!(
            why("WHY IS THIS STILL BROKEN"),
            Some("mostly upper case (100% of 20 letters)".into())
        );
        assert_eq!(why("OK THANKS"), None, "8 letters are too few to shout");
        assert_eq!(why("where is it???"), Some("a run of \"???\"".into()));
        assert_eq!(why("where is it??"), None);
        assert_eq!(
            why("That's wrong, try again"),
            Some("the phrase \"thats wrong\"".into())
        );
        assert_eq!(
            why("This is useless."),
            Some("the phrase \"useless\"".into())
        );
        assert_eq!(why("How do I reset my password?"), None);
        assert_eq!(why("なぜ！！！"), Some("a run of \"！！！\"".into()));
    }

    #[test]
    fn only_prompts_are_judged() {
        let c = conv(vec![
            msg("p1", Kind::Prompt, "useless!!!", 0.0),
            msg("r1", Kind::Response, "THAT IS USELESS!!!", 1.0),
        ]);
        let issues = frustrated_prompts(&c, &AnalysisConfig::default());
        assert_eq!(issues.len(), 1);
        assert_eq!(
            issues[0].reason,
            "prompt p1 shows frustration: a run of \"!!!\""
        );
    }
}
