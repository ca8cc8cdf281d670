//! The REST/WebSocket client the CLI uses (`chiffon request`, `approve`, …): every client verb
//! is a call to the API, so the CLI can do nothing the API does not allow. It speaks only the
//! contract (`crate::api`) and `crate::model`, never the server's own types.

pub mod questions;
pub mod render;

use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::api::{
    Abort, AgentView, Answer, Approval, AuditView, LiveEvent, Modification, NewRequest, Page,
    QueueView, Rejection, RequestSummary, RequestView, ResourceTotals, TaskView,
};
use crate::model::Task;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// A connection to one Chiffon server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// Sent as `Authorization: Bearer …` when the server requires it.
    token: Option<String>,
    /// Who decides through this client (`user@host`), stored with approvals, rejections and
    /// aborts; the CLI sets it.
    actor: Option<String>,
}

impl Client {
    pub fn new(server: &str) -> anyhow::Result<Self> {
        let base = server.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--server must be an http:// or https:// URL, not {server:?}");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            base,
            http,
            token: None,
            actor: Some(actor()),
        })
    }

    /// Names who decides through this client in approvals, rejections and aborts.
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Uses `token` for every call (`CHIFFON_API_TOKEN` in the CLI).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.map_err(|error| {
            if error.is_connect() || error.is_timeout() {
                anyhow::anyhow!(
                    "cannot reach Chiffon at {}: is `chiffon serve` running? ({error})",
                    self.base
                )
            } else {
                anyhow::anyhow!("request to {} failed: {error}", self.base)
            }
        })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .context("reading the server's answer")?;
        if !status.is_success() {
            let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
            let error = parsed.as_ref().and_then(|v| v.get("error"));
            let code = error
                .and_then(|e| e["code"].as_str())
                .unwrap_or("http_error");
            let message = error
                .and_then(|e| e["message"].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!("{message} ({code}, HTTP {})", status.as_u16());
        }
        serde_json::from_slice(&body).context("the server answered with unexpected JSON")
    }

    pub async fn create_request(
        &self,
        text: &str,
        high_value: bool,
    ) -> anyhow::Result<RequestView> {
        self.send(self.http.post(self.url("/requests")).json(&NewRequest {
            text: text.to_owned(),
            high_value,
        }))
        .await
    }

    pub async fn get_request(&self, id: &str) -> anyhow::Result<RequestView> {
        self.send(self.http.get(self.url(&format!("/requests/{id}"))))
            .await
    }

    pub async fn list_requests(&self, limit: u32) -> anyhow::Result<Page<RequestSummary>> {
        self.send(self.http.get(self.url(&format!("/requests?limit={limit}"))))
            .await
    }

    pub async fn approve(
        &self,
        id: &str,
        plan_version: Option<u32>,
    ) -> anyhow::Result<RequestView> {
        self.send(
            self.http
                .post(self.url(&format!("/requests/{id}/approve")))
                .json(&Approval {
                    plan_version,
                    by: self.actor.clone(),
                }),
        )
        .await
    }

    /// Asks for a change to a plan awaiting approval; answers the request with its new version.
    pub async fn modify(&self, id: &str, text: &str) -> anyhow::Result<RequestView> {
        self.send(
            self.http
                .post(self.url(&format!("/requests/{id}/modify")))
                .json(&Modification {
                    text: text.to_owned(),
                    by: self.actor.clone(),
                }),
        )
        .await
    }

    /// Answers an open question of the plan (a choice, or a template's fields); answers the
    /// request with its new plan version.
    pub async fn answer(&self, id: &str, answer: &Answer) -> anyhow::Result<RequestView> {
        let mut answer = answer.clone();
        answer.by.clone_from(&self.actor);
        self.send(
            self.http
                .post(self.url(&format!("/requests/{id}/answer")))
                .json(&answer),
        )
        .await
    }

    pub async fn reject(&self, id: &str, reason: &str) -> anyhow::Result<RequestView> {
        self.send(
            self.http
                .post(self.url(&format!("/requests/{id}/reject")))
                .json(&Rejection {
                    reason: reason.to_owned(),
                    by: self.actor.clone(),
                }),
        )
        .await
    }

    /// Runs the plan in check mode and returns the request with its preview.
    pub async fn preview(&self, id: &str) -> anyhow::Result<RequestView> {
        // State changes are JSON only (a cross-site form cannot send that), even without a body.
        self.send(
            self.http
                .post(self.url(&format!("/requests/{id}/preview")))
                .header(reqwest::header::CONTENT_TYPE, "application/json"),
        )
        .await
    }

    pub async fn abort(&self, id: &str, reason: Option<&str>) -> anyhow::Result<RequestView> {
        self.send(
            self.http
                .post(self.url(&format!("/requests/{id}/abort")))
                .json(&Abort {
                    reason: reason.map(str::to_owned),
                    by: self.actor.clone(),
                }),
        )
        .await
    }

    /// What a task changed on each host, before → after.
    pub async fn task_changes(&self, id: &str) -> anyhow::Result<crate::api::TaskChanges> {
        self.send(self.http.get(self.url(&format!("/tasks/{id}/changes"))))
            .await
    }

    /// Asks for a new request whose plan undoes request `id` (or the tasks in `body`).
    pub async fn revert(
        &self,
        id: &str,
        body: &crate::api::RevertBody,
    ) -> anyhow::Result<RequestView> {
        self.send(
            self.http
                .post(self.url(&format!("/requests/{id}/revert")))
                .json(body),
        )
        .await
    }

    /// Plans the undo of an applied suggestion's commit to the playbook repository.
    pub async fn revert_commit(&self, commit: &str) -> anyhow::Result<RequestView> {
        self.send(
            self.http
                .post(self.url(&format!("/suggestions/applied/{commit}/revert")))
                .json(&serde_json::json!({})),
        )
        .await
    }

    pub async fn task(&self, id: &str) -> anyhow::Result<TaskView> {
        self.send(self.http.get(self.url(&format!("/tasks/{id}"))))
            .await
    }

    /// Tasks, filtered by `query` (`status`, `service`, `since`, `until`, `order`, `limit`,
    /// `cursor`); values are escaped here.
    pub async fn tasks(&self, query: &[(&str, String)]) -> anyhow::Result<Page<Task>> {
        let mut url = reqwest::Url::parse(&self.url("/tasks"))?;
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        self.send(self.http.get(url)).await
    }

    /// Where the server keeps its audit repository (`/health`), for a `git -C` line a person
    /// can paste; `None` when the server does not say (an older server, or one that cannot
    /// be read).
    pub async fn audit_dir(&self) -> Option<String> {
        let request = self.http.get(self.url("/health"));
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        // `/health` answers 503 with the same body when degraded: the path is still there.
        let health: serde_json::Value = request.send().await.ok()?.json().await.ok()?;
        health["components"]["audit"]["path"]
            .as_str()
            .map(str::to_owned)
    }

    /// Every version of a request's plan, oldest first, each with the change that made it.
    pub async fn plan_versions(&self, id: &str) -> anyhow::Result<Vec<crate::api::PlanVersion>> {
        self.send(self.http.get(self.url(&format!("/requests/{id}/plans"))))
            .await
    }

    /// A task's audit entry and commit.
    pub async fn audit_entry(&self, task: &str) -> anyhow::Result<AuditView> {
        self.send(self.http.get(self.url(&format!("/audit/{task}"))))
            .await
    }

    /// Agents, filtered by `query` (`online`, `type`, `min_free_vram_gb`, `min_free_cores`).
    pub async fn agents(&self, query: &[(&str, String)]) -> anyhow::Result<Page<AgentView>> {
        // Values are numbers and booleans: nothing to escape.
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let path = if query.is_empty() {
            "/agents".to_owned()
        } else {
            format!("/agents?{}", query.join("&"))
        };
        self.send(self.http.get(self.url(&path))).await
    }

    /// Totals over the online agents.
    pub async fn resources(&self) -> anyhow::Result<ResourceTotals> {
        self.send(self.http.get(self.url("/resources"))).await
    }

    /// Whether the dispatch queue is paused, and its recent pauses and resumes.
    pub async fn queue(&self) -> anyhow::Result<QueueView> {
        self.send(self.http.get(self.url("/queue"))).await
    }

    /// Opens the live event stream for one request. Open it before approving, so no event
    /// is missed.
    pub async fn subscribe(&self, request_id: &str) -> anyhow::Result<LiveStream> {
        let ws = self.base.replacen("http", "ws", 1);
        let url = format!("{ws}/api/v1/ws?request_id={request_id}");
        let mut upgrade =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                url.as_str(),
            )?;
        if let Some(token) = &self.token {
            upgrade
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
        }
        let (socket, _) = tokio_tungstenite::connect_async(upgrade)
            .await
            .with_context(|| format!("cannot open the live event stream at {url}"))?;
        Ok(LiveStream { socket })
    }
}

/// Live events for one request.
#[derive(Debug)]
pub struct LiveStream {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl LiveStream {
    /// The next event, or `None` when the server closed the stream.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        while let Some(message) = self.socket.next().await {
            match message {
                Ok(WsMessage::Text(text)) => match serde_json::from_str(&text) {
                    Ok(event) => return Some(event),
                    Err(error) => tracing::debug!("skipped an unknown live event: {error}"),
                },
                Ok(WsMessage::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        None
    }
}

/// Who the CLI decides as by default: `user@host` (`CHIFFON_ACTOR` overrides), stored with
/// approvals, rejections and aborts.
fn actor() -> String {
    if let Ok(actor) = std::env::var("CHIFFON_ACTOR") {
        return actor;
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "someone".to_owned());
    format!("{user}@{}", hostname())
}

/// This machine's name, as the kernel has it (the client reads it itself: it imports nothing
/// of the agent).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
