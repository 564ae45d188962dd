//! Full-text search (`q` on `GET /api/v1/conversations`) through the real ingest path: every
//! script, short queries, snippets, combination with filters, deletion.

#[path = "collector_support/mod.rs"]
mod support;

use serde_json::Value;
use support::*;

async fn seed(s: &Server) {
    let texts = [
        (
            "de",
            "Die Größe des Pakets stimmt nicht, bitte ändern Sie die Lieferadresse.",
        ),
        ("ru", "Привет! Как изменить пароль в личном кабинете?"),
        ("ja", "パスワードを忘れました。どうすればいいですか"),
        ("emoji", "Party time 🎉 and a cake 🎂🎂🎂 for everyone"),
        ("en", "How do I export my invoices as CSV?"),
        ("quote", "He said \"hello\" and left 50% of the _text_"),
    ];
    let events = texts
        .iter()
        .enumerate()
        .map(|(i, (c, text))| {
            event(
                &format!("e{i}"),
                "prompt",
                c,
                "m1",
                text,
                T0 + i as u64 * 1000,
            )
        })
        .collect::<Vec<_>>();
    s.deliver_ok("seed", events, texts.len() as u64, 0).await;
    s.deliver_ok(
        "answer",
        vec![event(
            "a1",
            "agent_response",
            "en",
            "m2",
            "Open Billing and choose Export, then CSV.",
            T0 + 10_000,
        )],
        1,
        0,
    )
    .await;
}

async fn search(s: &Server, q: &str) -> Value {
    let q = url_encode(q);
    s.get_ok(&format!("/api/v1/conversations?q={q}")).await
}

fn url_encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn search_finds_every_script_with_a_snippet() {
    let s = Server::start().await;
    seed(&s).await;
    for (q, id, in_snippet) in [
        ("Größe", "de", "Die Größe des Pakets"),
        ("GRÖßE", "de", "Größe"),
        ("ändern", "de", "ändern Sie"),
        ("пароль", "ru", "изменить пароль"),
        ("ПАРОЛЬ", "ru", "пароль"),
        ("パスワード", "ja", "パスワードを忘れました"),
        ("忘れ", "ja", "忘れました"),
        ("どうすれば", "ja", "どうすれば"),
        ("🎉", "emoji", "🎉"),
        ("🎂🎂🎂", "emoji", "cake 🎂🎂🎂"),
        ("invoices", "en", "export my invoices"),
        ("csv", "en", "as CSV"),
        ("\"hello\"", "quote", "said \"hello\""),
        ("50%", "quote", "50%"),
        ("_text_", "quote", "_text_"),
    ] {
        let r = search(&s, q).await;
        assert_eq!(ids(&r), [id], "{q}: {r}");
        let snippet = r["conversations"][0]["snippet"].as_str().unwrap();
        assert!(snippet.contains(in_snippet), "{q}: {snippet}");
    }
    // A conversation matches on its answers too; the snippet is the first match.
    let r = search(&s, "Billing").await;
    assert_eq!(ids(&r), ["en"]);
    assert!(r["conversations"][0]["snippet"]
        .as_str()
        .unwrap()
        .starts_with("Open Billing"));
    for miss in ["Kuchen", "zz", "пароли", "🍕", "5_%"] {
        assert!(ids(&search(&s, miss).await).is_empty(), "{miss}");
    }
    // LIKE and FTS5 syntax in a query is text, not a pattern.
    for literal in ["%", "_", "\""] {
        assert_eq!(ids(&search(&s, literal).await), ["quote"], "{literal}");
    }
    // Without q, rows have no snippet.
    let all = s.get_ok("/api/v1/conversations").await;
    assert!(all["conversations"][0].get("snippet").is_none());
}

#[tokio::test]
async fn search_combines_with_filters_and_pages() {
    let s = Server::start().await;
    let events = (0..5)
        .map(|i| {
            event(
                &format!("e{i}"),
                "prompt",
                &format!("c{i}"),
                "m1",
                &format!("refund request number {i}"),
                T0 + i * 1000,
            )
        })
        .collect::<Vec<_>>();
    s.deliver_ok("d", events, 5, 0).await;
    let r = s.get_ok("/api/v1/conversations?q=refund&limit=2").await;
    assert_eq!(r["conversations"].as_array().unwrap().len(), 2);
    let next = r["nextCursor"].as_str().unwrap().to_string();
    let r2 = s
        .get_ok(&format!(
            "/api/v1/conversations?q=refund&limit=2&cursor={next}"
        ))
        .await;
    assert_eq!(r2["conversations"][0]["id"], "c2");
    // Every prompt is unanswered (long ago): the issue filter and search together.
    let r = s
        .get_ok("/api/v1/conversations?q=number%203&issue=unanswered_prompt")
        .await;
    assert_eq!(ids(&r), ["c3"]);
    let r = s
        .get_ok("/api/v1/conversations?q=number%203&hasIssues=false")
        .await;
    assert!(ids(&r).is_empty());
    // An empty q is no filter, like the other parameters.
    assert_eq!(
        s.get_ok("/api/v1/conversations?q=").await["conversations"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn a_deleted_conversation_leaves_the_index() {
    let s = Server::start().await;
    seed(&s).await;
    assert_eq!(ids(&search(&s, "Größe").await), ["de"]);
    assert_eq!(s.delete("/api/v1/conversations/de").await.0, 204);
    assert!(ids(&search(&s, "Größe").await).is_empty());
    assert!(ids(&search(&s, "ö").await).is_empty());
    // SQLite: the FTS5 index (external content) forgot the rows; PostgreSQL's trigram index
    // follows the table, whose rows are gone.
    let fts_rows = if s.pg.is_some() {
        s.scalar("SELECT count(*) FROM messages WHERE content ILIKE '%größe%'")
    } else {
        s.scalar("SELECT count(*) FROM message_fts WHERE message_fts MATCH '\"Größe\"'")
    };
    assert_eq!(fts_rows, 0);
    // The index holds the remaining messages only (SQLite's FTS5 keeps one row per message).
    if s.pg.is_none() {
        assert_eq!(s.count("message_fts_docsize"), s.count("messages"));
    }
}
