//! `GET /api/v1/webhooks/deliveries` (read key): the outbox, newest first, with keyset
//! pagination. Parameters: `status` (`pending`, `delivered`, `failed`), `type` (an event
//! type), `conversationId`, `limit` (1 to 200, default 50), `cursor`. URLs are shown without
//! user information or query ([`super::redact`]); bodies are never shown.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::storage::{self, Filter, Row};
use super::{redact, EventType};
use crate::collector::api::Pairs;
use crate::collector::cursor::{self, Kind};
use crate::collector::query::{Params, INVALID};
use crate::collector::Collector;
use crate::error::{ApiError, RequestId};

/// The route (the caller adds the API key check).
pub fn routes() -> Router<Arc<Collector>> {
    Router::new().route("/api/v1/webhooks/deliveries", get(deliveries))
}

/// Checked parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveriesQuery(pub Filter);

impl DeliveriesQuery {
    /// Parameter names.
    pub const ALLOWED: [&'static str; 5] = ["status", "type", "conversationId", "limit", "cursor"];
    /// The largest page.
    pub const MAX_LIMIT: i64 = 200;
    /// The page without `limit`.
    pub const DEFAULT_LIMIT: i64 = 50;

    /// Checks the parameters.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let p = Params::new(pairs, &Self::ALLOWED)?;
        let status = match p.id("status")?.as_deref() {
            None => None,
            Some("pending") => Some("pending"),
            Some("delivered") => Some("delivered"),
            Some("failed") => Some("failed"),
            Some(_) => {
                return Err(ApiError::bad_request(
                    INVALID,
                    "status must be one of pending, delivered, failed",
                ))
            }
        };
        let kind = match p.id("type")? {
            None => None,
            Some(t) => Some(EventType::parse(&t).map(EventType::as_str).ok_or_else(|| {
                ApiError::bad_request(
                    INVALID,
                    "type must be one of conversation.ended, conversation.flagged, reaction.negative",
                )
            })?),
        };
        Ok(DeliveriesQuery(Filter {
            status,
            kind,
            conversation_id: p.id("conversationId")?,
            before_id: p.cursor(Kind::WebhookDeliveries)?,
            limit: p.limit(Self::DEFAULT_LIMIT, Self::MAX_LIMIT)?,
        }))
    }
}

/// A page of deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    /// Newest first, each URL redacted.
    pub deliveries: Vec<Row>,
    /// The `cursor` of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

async fn deliveries(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    Pairs(pairs): Pairs,
) -> Result<Json<DeliveryPage>, ApiError> {
    let DeliveriesQuery(filter) = DeliveriesQuery::parse(pairs)?;
    let limit = usize::try_from(filter.limit).unwrap_or(usize::MAX);
    let mut rows = c
        .read(&rid, move |conn| storage::list(conn, &filter))
        .await?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last()
            .map(|r| cursor::encode(Kind::WebhookDeliveries, r.id))
    } else {
        None
    };
    Ok(Json(DeliveryPage {
        deliveries: rows
            .into_iter()
            .map(|r| Row {
                url: redact(&r.url),
                ..r
            })
            .collect(),
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<DeliveriesQuery, ApiError> {
        DeliveriesQuery::parse(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn parameters_are_checked() {
        let d = q(&[]).unwrap().0;
        assert_eq!((d.limit, d.status, d.kind), (50, None, None));
        let d = q(&[
            ("status", "failed"),
            ("type", "reaction.negative"),
            ("limit", "200"),
        ])
        .unwrap()
        .0;
        assert_eq!(
            (d.status, d.kind, d.limit),
            (Some("failed"), Some("reaction.negative"), 200)
        );
        for bad in [
            ("status", "done"),
            ("type", "conversation.started"),
            ("limit", "201"),
            ("cursor", "nope"),
            ("statsu", "failed"),
        ] {
            assert!(q(&[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_delivery_is_shown_without_its_row_id() {
        let row = Row {
            id: 7,
            webhook_id: "msg_1".into(),
            url: "https://hooks.example".into(),
            kind: "conversation.ended".into(),
            conversation_id: "c".into(),
            status: "pending".into(),
            attempts: 0,
            last_status_code: None,
            last_error: None,
            created_at: 1,
            next_attempt_at: Some(2),
            delivered_at: None,
        };
        let shown = serde_json::to_value(&row).unwrap();
        // serde_json's map is sorted by key.
        let keys: Vec<&str> = shown
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = [
            "webhookId",
            "url",
            "type",
            "conversationId",
            "status",
            "attempts",
            "lastStatusCode",
            "lastError",
            "createdAt",
            "nextAttemptAt",
            "deliveredAt",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }
}
