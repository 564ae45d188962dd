//! `unanswered_prompt` and `slow_response`, judged per prompt on the answers between it and
//! the next prompt (conversation order: timestamp, then insertion).
//!
//! - `unanswered_prompt`: no `agent_response` follows the prompt before the next prompt (or
//!   at all), judged once [`AnalysisConfig::unanswered_after_ms`] (60 s) have passed since
//!   the prompt (`now - prompt >= 60 s`). An answer that arrives later clears it, since the
//!   verdict is recomputed whenever the conversation changes.
//! - `slow_response`: the first `agent_response` after the prompt is stamped more than
//!   [`AnalysisConfig::slow_response_ms`] (30 s) after it.

use super::{AnalysisConfig, Conversation, Issue, IssueType, Kind};

/// The issues, and when a prompt still waiting for its answer will be judged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answers {
    /// Unanswered prompts and slow responses.
    pub issues: Vec<Issue>,
    /// The earliest time a waiting prompt becomes unanswered.
    pub recheck_at: Option<i64>,
}

/// Judges every prompt of `c` at `now`.
pub fn judge(c: &Conversation, now: i64, cfg: &AnalysisConfig) -> Answers {
    let mut out = Answers::default();
    let m = &c.messages;
    for (i, prompt) in m.iter().enumerate() {
        if prompt.kind != Kind::Prompt {
            continue;
        }
        let answer = m[i + 1..]
            .iter()
            .take_while(|n| n.kind != Kind::Prompt)
            .find(|n| n.kind == Kind::Response);
        match answer {
            Some(r) => {
                let delay = r.timestamp - prompt.timestamp;
                if delay > cfg.slow_response_ms {
                    out.issues.push(Issue {
                        issue_type: IssueType::SlowResponse,
                        message_ids: vec![prompt.id.clone(), r.id.clone()],
                        reason: format!(
                            "the first answer {} came {} s after prompt {} (limit {} s)",
                            r.id,
                            delay as f64 / 1000.0,
                            prompt.id,
                            cfg.slow_response_ms as f64 / 1000.0
                        ),
                        at: r.timestamp,
                    });
                }
            }
            None => {
                let due = prompt.timestamp.saturating_add(cfg.unanswered_after_ms);
                if now >= due {
                    let next = m[i + 1..].iter().find(|n| n.kind == Kind::Prompt);
                    out.issues.push(Issue {
                        issue_type: IssueType::UnansweredPrompt,
                        message_ids: vec![prompt.id.clone()],
                        reason: match next {
                            Some(n) => format!(
                                "no agent_response to prompt {} before the next prompt {}",
                                prompt.id, n.id
                            ),
                            None => format!(
                                "no agent_response to prompt {} within {} s",
                                prompt.id,
                                cfg.unanswered_after_ms as f64 / 1000.0
                            ),
                        },
                        at: prompt.timestamp,
                    });
                } else {
                    out.recheck_at = Some(out.recheck_at.map_or(due, |r: i64| r.min(due)));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn types(a: &Answers) -> Vec<(IssueType, Vec<String>)> {
        a.issues
            .iter()
            .map(|i| (i.issue_type, i.message_ids.clone()))
            .collect()
    }

    #[test]
    fn a_prompt_without_answer_is_judged_after_60_s_inclusive() {
        let c = conv(vec![msg("p1", Kind::Prompt, "hi", 0.0)]);
        let cfg = AnalysisConfig::default();
        let early = judge(&c, 59_999, &cfg);
        assert!(early.issues.is_empty());
        assert_eq!(early.recheck_at, Some(60_000));
        let due = judge(&c, 60_000, &cfg);
        assert_eq!(
            types(&due),
            [(IssueType::UnansweredPrompt, vec!["p1".to_string()])]
        );
        assert_eq!(
            due.issues[0].reason,
            "no agent_response to prompt p1 within 60 s"
        );
    }

    #[test]
    fn an_answer_after_the_next_prompt_does_not_answer_the_first() {
        let c = conv(vec![
            msg("p1", Kind::Prompt, "hi", 0.0),
            msg("p2", Kind::Prompt, "hello?", 5.0),
            msg("r2", Kind::Response, "hi!", 6.0),
        ]);
        let a = judge(&c, LATER, &AnalysisConfig::default());
        assert_eq!(
            types(&a),
            [(IssueType::UnansweredPrompt, vec!["p1".to_string()])]
        );
        assert_eq!(
            a.issues[0].reason,
            "no agent_response to prompt p1 before the next prompt p2"
        );
    }

    #[test]
    fn slow_means_more_than_30_s_to_the_first_answer() {
        let cfg = AnalysisConfig::default();
        let on_time = conv(vec![
            msg("p1", Kind::Prompt, "hi", 0.0),
            msg("t1", Kind::Trace, "span", 1.0),
            msg("r1", Kind::Response, "hello", 30.0),
            msg("r2", Kind::Response, "more", 90.0),
        ]);
        assert!(judge(&on_time, LATER, &cfg).issues.is_empty());
        let slow = conv(vec![
            msg("p1", Kind::Prompt, "hi", 0.0),
            msg("r1", Kind::Response, "hello", 30.001),
        ]);
        let a = judge(&slow, LATER, &cfg);
        assert_eq!(
            types(&a),
            [(
                IssueType::SlowResponse,
                vec!["p1".to_string(), "r1".to_string()]
            )]
        );
        assert_eq!(
            a.issues[0].reason,
            "the first answer r1 came 30.001 s after prompt p1 (limit 30 s)"
        );
    }
}
