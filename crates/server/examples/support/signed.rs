//! Shared by the collector benchmarks: one delivery signed as the proxy signs it (Standard
//! Webhooks v1), posted to the collector's `/v1/ingest`.

use agent_track_server::secret::Secrets;
use agent_track_server::signature;

/// Posts `body` to `url` with the webhook id `id`, signed now with `secrets`.
pub async fn post_signed(
    client: &reqwest::Client,
    url: &str,
    secrets: &Secrets,
    id: &str,
    body: &[u8],
) -> reqwest::Response {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    client
        .post(url)
        .header("content-type", "application/json")
        .header(signature::ID, id)
        .header(signature::TIMESTAMP, ts.to_string())
        .header(signature::SIGNATURE, signature::sign(secrets, id, ts, body))
        .body(body.to_vec())
        .send()
        .await
        .expect("the collector answers")
}
