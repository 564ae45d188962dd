//! What a proxy response means for the events of a batch (contract v1), as a pure function.

use agent_track_schema::cat;
use agent_track_schema::json::{Doc, Json, Kind, Node};
use agent_track_schema::text::num;
use agent_track_schema::Rejection;

use crate::codes;

use super::backoff::parse_retry_after;

/// A proxy response, or what the network said instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An HTTP response.
    Http {
        /// Status code.
        status: u16,
        /// Body text.
        body: String,
        /// The `Retry-After` header, if readable (the proxy exposes it to CORS).
        retry_after: Option<String>,
    },
    /// No response: connection refused, DNS, CORS failure, offline, aborted.
    Network(String),
}

/// What to do with the events of the batch that got a [`Reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx with a readable answer: every event not in `rejected` is acknowledged and leaves the
    /// queue; rejected ones are final (dropped, counted as rejected, reported).
    Delivered {
        /// Events refused for good.
        rejected: Vec<Rejection>,
    },
    /// 413, or 400 for a batch of several: send the two halves separately (a 400 for a whole
    /// batch usually means one unreadable event; halving isolates it). For a single event, the
    /// event is dropped with `code` (`too_large`, `unreadable`).
    Split {
        /// Why, for the single-event case.
        code: &'static str,
        /// What the proxy said.
        message: String,
    },
    /// 408, 425, 429, 5xx, a 2xx with an unreadable answer, or no response: keep the events
    /// and retry later, not before `retry_after_ms` if the proxy said so.
    Retry {
        /// The proxy's `Retry-After`, in ms from now.
        retry_after_ms: Option<u64>,
        /// What went wrong.
        message: String,
    },
    /// Any other 4xx (403 origin, 404, 415, ...): retrying cannot help; drop the batch and
    /// report why.
    Drop {
        /// Stable code, `http_<status>`.
        code: String,
        /// What the proxy said.
        message: String,
    },
}

/// Classifies `reply` for a batch.
pub fn classify(reply: &Reply, now_ms: u64) -> Outcome {
    let (status, body, retry_after) = match reply {
        Reply::Network(e) => {
            return Outcome::Retry {
                retry_after_ms: None,
                message: cat!["network error: ", e],
            }
        }
        Reply::Http {
            status,
            body,
            retry_after,
        } => (*status, body, retry_after),
    };
    let said = || cat!["HTTP ", num(u64::from(status)), ": ", proxy_message(body)];
    match status {
        200..=299 => match read_acknowledgement(body) {
            Some(rejected) => Outcome::Delivered { rejected },
            None => Outcome::Retry {
                retry_after_ms: None,
                message: cat![
                    "HTTP ",
                    num(u64::from(status)),
                    " without a readable acknowledgement; the events stay queued"
                ],
            },
        },
        413 => Outcome::Split {
            code: codes::TOO_LARGE,
            message: said(),
        },
        400 => Outcome::Split {
            code: codes::UNREADABLE,
            message: said(),
        },
        408 | 425 | 429 | 500..=599 => Outcome::Retry {
            retry_after_ms: retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now_ms)),
            message: said(),
        },
        _ => Outcome::Drop {
            code: cat![codes::HTTP_PREFIX, num(u64::from(status))],
            message: said(),
        },
    }
}

/// The `rejected` list of a 200 body (`{"requestId", "accepted": n, "rejected": [..]}`), or
/// `None` when the body is not an acknowledgement.
fn read_acknowledgement(body: &str) -> Option<Vec<Rejection>> {
    let doc = Doc::parse(body).ok()?;
    let v = doc.root();
    v.get("accepted")?.as_whole()?;
    let text = |r: Node, k: &str| r.get(k).and_then(|x| x.as_str()).map(|s| s.into_owned());
    let rejected = match v.get("rejected") {
        None => Vec::new(),
        Some(list) if list.is_null() => Vec::new(),
        Some(list) if list.kind() == Kind::Array => list
            .items()
            .into_iter()
            .filter_map(|r| {
                Some(Rejection {
                    index: r
                        .get("index")
                        .and_then(|i| i.as_whole())
                        .unwrap_or_default() as usize,
                    event_id: text(r, "eventId")?,
                    code: text(r, "code").unwrap_or_else(|| "rejected".into()),
                    field: text(r, "field").unwrap_or_default(),
                    message: text(r, "message").unwrap_or_else(|| "rejected by the proxy".into()),
                })
            })
            .collect(),
        Some(_) => return None,
    };
    Some(rejected)
}

/// The `message` of a proxy error body, else the body's start.
fn proxy_message(body: &str) -> String {
    Doc::parse(body)
        .ok()
        .and_then(|d| {
            d.root()
                .get("message")
                .and_then(|m| m.as_str())
                .map(|m| m.into_owned())
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, body: &str, retry_after: Option<&str>) -> Reply {
        Reply::Http {
            status,
            body: body.into(),
            retry_after: retry_after.map(Into::into),
        }
    }

    #[test]
    fn ok_with_rejections() {
        let body = r#"{"requestId":"r","accepted":1,"rejected":[{"index":1,"eventId":"e2","code":"too_old","field":"timestamp","message":"older than 7 days"}]}"#;
        let Outcome::Delivered { rejected } = classify(&http(200, body, None), 0) else {
            panic!()
        };
        assert_eq!(rejected[0].event_id, "e2");
        assert_eq!(
            classify(&http(200, r#"{"requestId":"r","accepted":2}"#, None), 0),
            Outcome::Delivered { rejected: vec![] }
        );
    }

    #[test]
    fn ok_without_an_acknowledgement_is_retried() {
        // A captive portal or a misrouted request answers 200 with HTML: nothing was delivered.
        assert!(matches!(
            classify(&http(200, "<html>", None), 0),
            Outcome::Retry { .. }
        ));
    }

    #[test]
    fn too_large_and_unreadable_split() {
        let o = classify(
            &http(
                413,
                r#"{"requestId":"r","code":"body_too_large","message":"at most 524288 bytes"}"#,
                None,
            ),
            0,
        );
        assert_eq!(
            o,
            Outcome::Split {
                code: "too_large",
                message: "HTTP 413: at most 524288 bytes".into()
            }
        );
        assert!(matches!(
            classify(&http(400, "{}", None), 0),
            Outcome::Split {
                code: "unreadable",
                ..
            }
        ));
    }

    #[test]
    fn transient_failures_retry_and_honour_retry_after() {
        for status in [408, 425, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    classify(&http(status, "", None), 0),
                    Outcome::Retry {
                        retry_after_ms: None,
                        ..
                    }
                ),
                "{status}"
            );
        }
        let Outcome::Retry { retry_after_ms, .. } = classify(&http(429, "", Some("3")), 0) else {
            panic!()
        };
        assert_eq!(retry_after_ms, Some(3_000));
        assert!(matches!(
            classify(&Reply::Network("refused".into()), 0),
            Outcome::Retry { .. }
        ));
    }

    #[test]
    fn other_client_errors_drop_with_the_reason() {
        let o = classify(
            &http(
                403,
                r#"{"requestId":"r","code":"origin_not_allowed","message":"origin https://evil.example is not allowed"}"#,
                None,
            ),
            0,
        );
        assert_eq!(
            o,
            Outcome::Drop {
                code: "http_403".into(),
                message: "HTTP 403: origin https://evil.example is not allowed".into()
            }
        );
        assert!(matches!(
            classify(&http(415, "", None), 0),
            Outcome::Drop { .. }
        ));
        assert!(matches!(
            classify(&http(404, "", None), 0),
            Outcome::Drop { .. }
        ));
    }
}
