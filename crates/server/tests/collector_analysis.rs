//! Conversation analysis through the real ingest path: signed batches over a real socket
//! into a real SQLite file, read back through the API. One test per issue type and outcome,
//! with the boundaries of their definitions; the list filters; `/api/v1/issues`; the sweep.

#[path = "collector_support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use agent_track_server::collector::analysis::AnalysisConfig;
use serde_json::{json, Value};
use support::*;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn eid() -> String {
    format!("e{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn prompt(c: &str, m: &str, text: &str, ts: u64) -> Value {
    event(&eid(), "prompt", c, m, text, ts)
}

fn answer(c: &str, m: &str, text: &str, ts: u64) -> Value {
    event(&eid(), "agent_response", c, m, text, ts)
}

fn react(c: &str, m: &str, value: &str, ts: u64, comments: &[&str]) -> Value {
    with(
        event(&eid(), "user_reaction", c, m, value, ts),
        json!({ "agentUserReactionComments": comments }),
    )
}

async fn send(s: &Server, events: Vec<Value>) {
    let n = events.len() as u64;
    s.deliver_ok(&eid(), events, n, 0).await;
}

/// The issues of type `t` in a conversation's detail.
async fn issues_of(s: &Server, c: &str, t: &str) -> Vec<Value> {
    detail(s, c).await["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == t)
        .cloned()
        .collect()
}

const S: u64 = 1000;

#[tokio::test]
async fn negative_feedback_follows_the_current_reaction_and_un_react_clears_it() {
    let s = Server::start().await;
    send(
        &s,
        vec![
            prompt("c", "p1", "hi", T0),
            answer("c", "r1", "hello", T0 + S),
        ],
    )
    .await;
    send(
        &s,
        vec![react(
            "c",
            "r1",
            "negative",
            T0 + 2 * S,
            &["too short", "rude"],
        )],
    )
    .await;
    let issues = issues_of(&s, "c", "negative_feedback").await;
    assert_eq!(
        issues,
        [
            json!({"type": "negative_feedback", "messageIds": ["r1"], "reason": "negative reaction to r1: \"too short\", \"rude\""})
        ]
    );
    let list = s
        .get_ok("/api/v1/conversations?issue=negative_feedback")
        .await;
    assert_eq!(ids(&list), ["c"]);
    // Un-react clears it, from the stored verdict (list filter) and the detail.
    send(&s, vec![react("c", "r1", "unreact", T0 + 3 * S, &[])]).await;
    assert!(issues_of(&s, "c", "negative_feedback").await.is_empty());
    let list = s
        .get_ok("/api/v1/conversations?issue=negative_feedback")
        .await;
    assert!(ids(&list).is_empty());
    // A late, older negative does not come back (latest wins).
    send(&s, vec![react("c", "r1", "negative", T0 + 2500, &[])]).await;
    assert!(issues_of(&s, "c", "negative_feedback").await.is_empty());
    assert_eq!(
        s.get_ok("/api/v1/conversations?hasIssues=false").await["conversations"][0]["issueTypes"],
        json!([])
    );
}

#[tokio::test]
async fn rage_prompt_needs_three_repeats_within_120_s() {
    let s = Server::start().await;
    let rage = |c: &'static str, third: u64| {
        vec![
            prompt(c, "p1", "How do I reset my password?", T0),
            answer(c, "r1", "Open settings.", T0 + S),
            prompt(c, "p2", "how do i RESET my password", T0 + 60 * S),
            answer(c, "r2", "Open the settings page.", T0 + 61 * S),
            prompt(c, "p3", "reset my password how do I", T0 + third),
            answer(c, "r3", "Settings, then Security.", T0 + third + S),
        ]
    };
    send(&s, rage("within", 119 * S)).await;
    send(&s, rage("outside", 121 * S)).await;
    let mut two = rage("two", 119 * S);
    two.truncate(4);
    send(&s, two).await;
    let issues = issues_of(&s, "within", "rage_prompt").await;
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["messageIds"], json!(["p1", "p2", "p3"]));
    assert_eq!(
        issues[0]["reason"],
        "3 prompts within 119 s repeat one request: \"How do I reset my password?\""
    );
    assert!(issues_of(&s, "outside", "rage_prompt").await.is_empty());
    assert!(issues_of(&s, "two", "rage_prompt").await.is_empty());
    assert_eq!(
        ids(&s.get_ok("/api/v1/conversations?issue=rage_prompt").await),
        ["within"]
    );
}

#[tokio::test]
async fn unanswered_prompt_is_cleared_by_a_late_answer_which_may_be_slow() {
    let s = Server::start().await;
    send(&s, vec![prompt("c", "p1", "Where is my order?", T0)]).await;
    let issues = issues_of(&s, "c", "unanswered_prompt").await;
    assert_eq!(
        issues,
        [
            json!({"type": "unanswered_prompt", "messageIds": ["p1"], "reason": "no agent_response to prompt p1 within 60 s"})
        ]
    );
    assert_eq!(
        ids(&s
            .get_ok("/api/v1/conversations?issue=unanswered_prompt")
            .await),
        ["c"]
    );
    // The answer arrives, stamped 90 s after the prompt.
    send(&s, vec![answer("c", "r1", "It ships today.", T0 + 90 * S)]).await;
    assert_eq!(issue_types(&s, "c").await, ["slow_response"]);
    assert!(ids(&s
        .get_ok("/api/v1/conversations?issue=unanswered_prompt")
        .await)
    .is_empty());
    assert_eq!(
        ids(&s.get_ok("/api/v1/conversations?issue=slow_response").await),
        ["c"]
    );
    // An answer after the next prompt answers that one, not the first.
    send(
        &s,
        vec![
            prompt("d", "p1", "hello", T0),
            prompt("d", "p2", "hello?", T0 + 5 * S),
            answer("d", "r2", "hi", T0 + 6 * S),
        ],
    )
    .await;
    let issues = issues_of(&s, "d", "unanswered_prompt").await;
    assert_eq!(issues[0]["messageIds"], json!(["p1"]));
    assert_eq!(
        issues[0]["reason"],
        "no agent_response to prompt p1 before the next prompt p2"
    );
}

#[tokio::test]
async fn a_fresh_prompt_is_judged_after_60_s_by_the_sweep() {
    let cfg = AnalysisConfig {
        unanswered_after_ms: 1500,
        sweep_interval: std::time::Duration::from_millis(200),
        ..AnalysisConfig::default()
    };
    let s = Server::start_with(cfg).await;
    send(&s, vec![prompt("c", "p1", "are you there", now_ms())]).await;
    let row = &s.get_ok("/api/v1/conversations").await["conversations"][0];
    assert_eq!(
        (row["status"].as_str(), &row["outcome"], &row["issueTypes"]),
        (Some("active"), &Value::Null, &json!([]))
    );
    let d = detail(&s, "c").await;
    assert_eq!(
        (
            d["status"].as_str(),
            &d["outcome"],
            &d["endedAt"],
            &d["durationSeconds"]
        ),
        (Some("active"), &Value::Null, &Value::Null, &Value::Null)
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    // The sweep stored the verdict: the list filter finds it without a new event.
    let list = s
        .get_ok("/api/v1/conversations?issue=unanswered_prompt")
        .await;
    assert_eq!(ids(&list), ["c"]);
    assert_eq!(
        list["conversations"][0]["issueTypes"],
        json!(["unanswered_prompt"])
    );
}

#[tokio::test]
async fn slow_response_means_more_than_30_s() {
    let s = Server::start().await;
    send(
        &s,
        vec![
            prompt("on-time", "p1", "hi", T0),
            answer("on-time", "r1", "hello", T0 + 30 * S),
        ],
    )
    .await;
    send(
        &s,
        vec![
            prompt("slow", "p1", "hi", T0),
            answer("slow", "r1", "hello", T0 + 31 * S),
        ],
    )
    .await;
    assert!(issue_types(&s, "on-time").await.is_empty());
    let issues = issues_of(&s, "slow", "slow_response").await;
    assert_eq!(
        issues,
        [
            json!({"type": "slow_response", "messageIds": ["p1", "r1"], "reason": "the first answer r1 came 31 s after prompt p1 (limit 30 s)"})
        ]
    );
}

#[tokio::test]
async fn fallback_answers_in_english_and_from_a_phrase_file() {
    let mut cfg = AnalysisConfig::default();
    cfg.fallback_phrases.extend(["Das weiß ich leider nicht"]);
    let s = Server::start_with(cfg).await;
    send(
        &s,
        vec![
            prompt("en", "p1", "What is the meaning of life?", T0),
            answer("en", "r1", "Sorry, I'm not able to answer that.", T0 + S),
        ],
    )
    .await;
    send(
        &s,
        vec![
            prompt("de", "p1", "Was kostet das?", T0),
            answer("de", "r1", "Das weiß ich leider nicht.", T0 + S),
        ],
    )
    .await;
    send(
        &s,
        vec![
            prompt("ok", "p1", "Do you know my plan?", T0),
            answer("ok", "r1", "You are on the Pro plan.", T0 + S),
        ],
    )
    .await;
    let en = issues_of(&s, "en", "fallback_answer").await;
    assert_eq!(
        en[0]["reason"],
        "answer r1 says the agent cannot help (\"im not able to\")"
    );
    assert_eq!(
        issues_of(&s, "de", "fallback_answer").await[0]["messageIds"],
        json!(["r1"])
    );
    assert!(issue_types(&s, "ok").await.is_empty());
    // A fallback as the last answer makes the outcome `error`.
    assert_eq!(detail(&s, "en").await["outcome"], "error");
}

#[tokio::test]
async fn repeated_answer_to_different_prompts() {
    let s = Server::start().await;
    send(
        &s,
        vec![
            prompt("c", "p1", "Where is my order?", T0),
            answer("c", "r1", "Please contact support.", T0 + S),
            prompt("c", "p2", "Can I get a refund?", T0 + 10 * S),
            answer("c", "r2", "please contact SUPPORT!", T0 + 11 * S),
        ],
    )
    .await;
    send(
        &s,
        vec![
            prompt("same", "p1", "Where is my order?", T0),
            answer("same", "r1", "It ships today.", T0 + S),
            prompt("same", "p2", "where is my order", T0 + 10 * S),
            answer("same", "r2", "It ships today.", T0 + 11 * S),
        ],
    )
    .await;
    let issues = issues_of(&s, "c", "repeated_answer").await;
    assert_eq!(
        issues,
        [
            json!({"type": "repeated_answer", "messageIds": ["r1", "r2"], "reason": "the same answer to 2 different prompts: \"Please contact support.\""})
        ]
    );
    assert!(
        issue_types(&s, "same").await.is_empty(),
        "the same prompt twice"
    );
}

#[tokio::test]
async fn frustration_signals() {
    let s = Server::start().await;
    let cases = [
        (
            "caps",
            "WHY IS THIS STILL NOT WORKING",
            Some("prompt p1 shows frustration: mostly upper case (100% of 24 letters)"),
        ),
        (
            "marks",
            "where is my refund???",
            Some("prompt p1 shows frustration: a run of \"???\""),
        ),
        (
            "phrase",
            "That's not what I asked",
            Some("prompt p1 shows frustration: the phrase \"not what i asked\""),
        ),
        ("calm", "Where is my refund? Thanks!", None),
        ("short", "OK THX", None),
    ];
    for (c, text, _) in cases {
        send(
            &s,
            vec![
                prompt(c, "p1", text, T0),
                answer(c, "r1", &format!("answer for {c}"), T0 + S),
            ],
        )
        .await;
    }
    for (c, _, reason) in cases {
        let issues = issues_of(&s, c, "frustration").await;
        assert_eq!(
            issues.first().map(|i| i["reason"].as_str().unwrap()),
            reason,
            "{c}"
        );
    }
}

#[tokio::test]
async fn outcomes_and_status_with_their_filters() {
    let s = Server::start().await;
    send(
        &s,
        vec![
            prompt("completed", "p1", "hi", T0),
            answer("completed", "r1", "hello", T0 + 2500),
        ],
    )
    .await;
    send(
        &s,
        vec![
            prompt("abandoned", "p1", "hi", T0),
            answer("abandoned", "r1", "hello", T0 + S),
            prompt("abandoned", "p2", "and then?", T0 + 2 * S),
        ],
    )
    .await;
    send(
        &s,
        vec![
            prompt("error", "p1", "hi", T0),
            set(
                answer("error", "r1", "Something broke.", T0 + S),
                json!({"eventProperties": {"error": "upstream timeout"}}),
            ),
        ],
    )
    .await;
    send(
        &s,
        vec![
            prompt("not-error", "p1", "hi", T0),
            set(
                answer("not-error", "r1", "fine", T0 + S),
                json!({"eventProperties": {"error": false}}),
            ),
        ],
    )
    .await;
    let now = now_ms();
    send(
        &s,
        vec![
            prompt("active", "p1", "hi", now),
            answer("active", "r1", "hello", now + 10),
        ],
    )
    .await;

    let d = detail(&s, "completed").await;
    assert_eq!(
        (
            d["status"].as_str(),
            d["outcome"].as_str(),
            d["endedAt"].as_u64(),
            d["durationSeconds"].as_i64()
        ),
        (Some("ended"), Some("completed"), Some(T0 + 2500), Some(2))
    );
    assert_eq!(detail(&s, "abandoned").await["outcome"], "abandoned");
    assert_eq!(detail(&s, "error").await["outcome"], "error");
    assert_eq!(detail(&s, "not-error").await["outcome"], "completed");
    let active = detail(&s, "active").await;
    assert_eq!(
        (active["status"].as_str(), &active["outcome"]),
        (Some("active"), &Value::Null)
    );

    assert_eq!(
        ids(&s.get_ok("/api/v1/conversations?status=active").await),
        ["active"]
    );
    assert_eq!(
        ids(&s.get_ok("/api/v1/conversations?status=ended").await),
        ["abandoned", "completed", "error", "not-error"]
    );
    assert_eq!(
        ids(&s.get_ok("/api/v1/conversations?outcome=completed").await),
        ["completed", "not-error"]
    );
    assert_eq!(
        ids(&s.get_ok("/api/v1/conversations?outcome=abandoned").await),
        ["abandoned"]
    );
    assert_eq!(
        ids(&s
            .get_ok("/api/v1/conversations?outcome=error&status=ended")
            .await),
        ["error"]
    );
    assert!(ids(&s
        .get_ok("/api/v1/conversations?outcome=completed&status=active")
        .await)
    .is_empty());
    let rows = s.get_ok("/api/v1/conversations?status=ended&limit=2").await;
    assert_eq!(rows["conversations"].as_array().unwrap().len(), 2);
    let next = rows["nextCursor"].as_str().unwrap().to_string();
    let rest = s
        .get_ok(&format!(
            "/api/v1/conversations?status=ended&limit=2&cursor={next}"
        ))
        .await;
    assert_eq!(rest["conversations"].as_array().unwrap().len(), 2);
    assert_eq!(rest["nextCursor"], Value::Null);
    // The abandoned one also has an unanswered prompt; the others have no issues.
    assert_eq!(
        ids(&s.get_ok("/api/v1/conversations?hasIssues=true").await),
        ["abandoned"]
    );
    assert_eq!(
        ids(&s.get_ok("/api/v1/conversations?hasIssues=false").await).len(),
        4
    );
    let stats = s.get_ok("/api/v1/stats").await;
    assert_eq!(
        stats["outcomes"],
        json!({"completed": 2, "abandoned": 1, "error": 1})
    );
    assert_eq!(
        stats["outcomeShares"],
        json!({"completed": 0.5, "abandoned": 0.25, "error": 0.25})
    );
}

#[tokio::test]
async fn filters_refuse_bad_values_like_the_other_parameters() {
    let s = Server::start().await;
    for (query, code, message) in [
        ("status=done", "invalid_parameter", "status must be one of active, ended"),
        ("outcome=fine", "invalid_parameter", "outcome must be one of completed, abandoned, error"),
        ("issue=rage", "invalid_parameter", "issue must be one of negative_feedback, rage_prompt, unanswered_prompt, slow_response, fallback_answer, repeated_answer, frustration"),
        ("hasIssues=yes", "invalid_parameter", "hasIssues must be true or false"),
        ("issues=rage_prompt", "unknown_parameter", "did you mean `issue`?"),
    ] {
        let (status, body) = s.get(&format!("/api/v1/conversations?{query}")).await;
        assert_eq!((status, body["code"].as_str()), (400, Some(code)), "{query}: {body}");
        assert!(body["message"].as_str().unwrap().contains(message), "{query}: {body}");
    }
    for (query, code) in [
        ("issue=rage_prompt", "unknown_parameter"),
        ("since=yesterday", "invalid_parameter"),
    ] {
        let (status, body) = s.get(&format!("/api/v1/issues?{query}")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{query}: {body}"
        );
    }
    let (status, _, _) = s.get_with("/api/v1/issues", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_issues_endpoint_counts_conversations_per_type_and_day() {
    let s = Server::start().await;
    const DAY: u64 = 86_400_000;
    // Day 1: four conversations; two with a negative reaction, one with a slow answer too.
    for (c, slow, negative) in [
        ("a", true, true),
        ("b", false, true),
        ("c", false, false),
        ("d", false, false),
    ] {
        let at = if slow { 40 * S } else { S };
        let mut events = vec![
            prompt(c, "p1", &format!("question {c}"), T0),
            answer(c, "r1", &format!("answer {c}"), T0 + at),
        ];
        if negative {
            events.push(react(c, "r1", "negative", T0 + at + S, &[]));
        }
        send(&s, events).await;
    }
    // Day 2: one conversation, unanswered; another agent's conversation, unanswered.
    send(&s, vec![prompt("e", "p1", "hello", T0 + DAY)]).await;
    send(
        &s,
        vec![with(
            prompt("f", "p1", "hello", T0 + DAY),
            json!({"agentId": "agent-2"}),
        )],
    )
    .await;

    let r = s.get_ok("/api/v1/issues").await;
    assert_eq!(
        (
            r["conversations"].as_i64(),
            r["conversationsWithIssues"].as_i64(),
            r["rate"].as_f64()
        ),
        (Some(6), Some(4), Some(0.6667))
    );
    let issues = r["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 7, "every type");
    let find = |t: &str| issues.iter().find(|i| i["type"] == t).unwrap().clone();
    assert_eq!(
        issues[0]["type"], "negative_feedback",
        "ranked by count, ties in list order"
    );
    assert_eq!(issues[1]["type"], "unanswered_prompt");
    let neg = find("negative_feedback");
    assert_eq!(
        (neg["conversations"].as_i64(), neg["rate"].as_f64()),
        (Some(2), Some(0.3333))
    );
    assert_eq!(
        neg["perDay"],
        json!([{"day": "2025-11-21", "conversations": 2, "rate": 0.5}])
    );
    let mut examples: Vec<String> = serde_json::from_value(neg["examples"].clone()).unwrap();
    examples.sort();
    assert_eq!(examples, ["a", "b"]);
    assert_eq!(find("slow_response")["conversations"], 1);
    assert_eq!(
        find("unanswered_prompt")["perDay"],
        json!([{"day": "2025-11-22", "conversations": 2, "rate": 1.0}])
    );
    assert_eq!(
        (
            find("rage_prompt")["conversations"].as_i64(),
            find("rage_prompt")["examples"].clone()
        ),
        (Some(0), json!([]))
    );
    assert_eq!(
        r["perDay"],
        json!([
            {"day": "2025-11-21", "conversations": 4, "conversationsWithIssues": 2, "rate": 0.5},
            {"day": "2025-11-22", "conversations": 2, "conversationsWithIssues": 2, "rate": 1.0}
        ])
    );
    // Agent and window filters.
    let a2 = s.get_ok("/api/v1/issues?agentId=agent-2").await;
    assert_eq!(
        (
            a2["conversations"].as_i64(),
            a2["conversationsWithIssues"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let day1 = s
        .get_ok(&format!("/api/v1/issues?until={}", T0 + DAY))
        .await;
    assert_eq!(
        (
            day1["conversations"].as_i64(),
            day1["conversationsWithIssues"].as_i64()
        ),
        (Some(4), Some(2))
    );
    // Stats carry the same daily rate.
    let stats = s.get_ok("/api/v1/stats").await;
    assert_eq!(stats["perDay"][0]["issueRate"], 0.5);
    assert_eq!(stats["perDay"][1]["conversationsWithIssues"], 2);
}

#[tokio::test]
async fn deleting_a_conversation_removes_its_verdict_and_issues() {
    let s = Server::start().await;
    send(&s, vec![prompt("gone", "p1", "hello", T0)]).await;
    assert_eq!(s.count("conversation_issues"), 1);
    assert_eq!(s.count("conversation_analysis"), 1);
    assert_eq!(s.delete("/api/v1/conversations/gone").await.0, 204);
    assert_eq!(
        (
            s.count("conversation_issues"),
            s.count("conversation_analysis")
        ),
        (0, 0)
    );
    assert_eq!(
        s.get_ok("/api/v1/issues").await["conversationsWithIssues"],
        0
    );
}
