//! `GET /api/v1/conversations/{id}/insights` (read key): the model insights of a
//! conversation next to its deterministic verdict.
//!
//! `status`:
//!
//! - `ready`: `insights` holds the five fields of the conversation as it ended last.
//! - `failed`: the model was asked and gave no usable answer; `error` says why.
//! - `pending`: ended and waiting (for a worker, a retry, or the next hour's cap).
//! - `not_ended`: the conversation is still active (or not yet judged).
//! - `not_configured`: no `--insights-url`; nothing is sent anywhere.
//!
//! Results stored earlier are shown even when insights are no longer configured.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::answer::Insights;
use super::storage::{self, Stored};
use crate::collector::api::{not_found, Id, Pairs};
use crate::collector::query::Params;
use crate::collector::Collector;
use crate::error::{ApiError, RequestId};

/// The verdict part of the answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerdictView {
    /// `active` or `ended`.
    pub status: String,
    /// `completed`, `abandoned` or `error` once ended; else null.
    pub outcome: Option<String>,
    /// The issue types raised.
    pub issues: Vec<String>,
}

/// The answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InsightsView {
    /// The conversation.
    pub conversation_id: String,
    /// `ready`, `pending`, `failed`, `not_configured` or `not_ended`.
    pub status: &'static str,
    /// The five fields when ready.
    pub insights: Option<Insights>,
    /// The model asked.
    pub model: Option<String>,
    /// When the insights were stored (unix ms, like every time of the read API).
    pub generated_at: Option<i64>,
    /// Requests made for the conversation as it ended last.
    pub attempts: u32,
    /// The last failure.
    pub error: Option<String>,
    /// The stored deterministic verdict; null before the conversation is judged.
    pub verdict: Option<VerdictView>,
}

fn status_of(configured: bool, ended: bool, stored: Option<&Stored>) -> &'static str {
    match stored.map(|s| s.status.as_str()) {
        Some("ready") if ended => "ready",
        Some("failed") if ended => "failed",
        _ if !ended => "not_ended",
        _ if !configured => "not_configured",
        _ => "pending",
    }
}

/// The handler.
pub(crate) async fn insights_of(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    Id(id): Id,
    Pairs(q): Pairs,
) -> Result<Json<InsightsView>, ApiError> {
    Params::new(q, &[])?;
    let configured = c.insights.is_some();
    let key = id.clone();
    let (verdict, stored) = c
        .read(&rid, move |conn| storage::view(conn, &key))
        .await?
        .ok_or_else(not_found)?;
    let ended = verdict.as_ref().is_some_and(|v| v.status == "ended");
    let status = status_of(configured, ended, stored.as_ref());
    let shown = stored.filter(|_| ended);
    Ok(Json(InsightsView {
        conversation_id: id,
        status,
        insights: shown.as_ref().and_then(|s| s.insights.clone()),
        model: shown.as_ref().and_then(|s| s.model.clone()),
        generated_at: shown.as_ref().and_then(|s| s.generated_at),
        attempts: shown.as_ref().map_or(0, |s| s.attempts),
        error: shown.as_ref().and_then(|s| s.error.clone()),
        verdict: verdict.map(|v| VerdictView {
            outcome: (v.status == "ended").then_some(v.outcome),
            status: v.status,
            issues: v.issues,
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(status: &str) -> Stored {
        Stored {
            status: status.into(),
            insights: None,
            model: None,
            generated_at: None,
            attempts: 1,
            error: None,
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(status_of(true, false, None), "not_ended");
        assert_eq!(status_of(false, false, None), "not_ended");
        assert_eq!(status_of(false, true, None), "not_configured");
        assert_eq!(status_of(true, true, None), "pending");
        assert_eq!(status_of(true, true, Some(&stored("pending"))), "pending");
        assert_eq!(
            status_of(false, true, Some(&stored("pending"))),
            "not_configured"
        );
        assert_eq!(status_of(false, true, Some(&stored("ready"))), "ready");
        assert_eq!(status_of(true, true, Some(&stored("failed"))), "failed");
        assert_eq!(status_of(true, false, Some(&stored("ready"))), "not_ended");
    }
}
