//! The two wire formats Chiffon speaks to models, over reqwest: OpenAI-compatible chat
//! completions with JSON-schema structured output (Ollama, LiteLLM, llama.cpp, vLLM, OpenAI)
//! and Anthropic's Messages API with a forced tool call. Each call answers the model's text
//! (the plan JSON), the tokens it used, its cost when the server says (LiteLLM's
//! `x-litellm-response-cost`), the rate-limit headroom when the server says, or a classified
//! failure.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Provider, ProviderKind};

/// One message of the conversation (system prompt aside).
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

/// A model's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The plan JSON the model produced.
    pub text: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// USD, when the server reported it.
    pub reported_cost_usd: Option<f64>,
    /// Share of the rate limit's tokens left (0–1), when the server reported it.
    pub rate_limit_left: Option<f64>,
    /// The answer stopped at the token limit.
    pub truncated: bool,
    pub latency: Duration,
}

/// Why a call produced no answer; `code` is the reason code stored with the decision.
#[derive(Debug, Clone)]
pub struct CallError {
    pub code: &'static str,
    pub detail: String,
    pub http_status: Option<u16>,
    pub latency: Duration,
}

/// Calls `provider` with `system` and `messages`, constrained to `schema`.
pub async fn call(
    http: &reqwest::Client,
    provider: &Provider,
    system: &str,
    messages: &[Message],
    schema: &serde_json::Value,
) -> Result<Reply, CallError> {
    let started = Instant::now();
    let fail = |code: &'static str, detail: String, status: Option<u16>| CallError {
        code,
        detail,
        http_status: status,
        latency: started.elapsed(),
    };
    let request = build_request(http, provider, system, messages, schema);
    let response = match request.timeout(provider.timeout).send().await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => {
            return Err(fail(
                "timeout",
                format!("no answer within {} s", provider.timeout.as_secs()),
                None,
            ));
        }
        Err(error) => {
            return Err(fail(
                "provider_down",
                format!("cannot reach {}: {}", provider.url, root_cause(&error)),
                None,
            ));
        }
    };
    let status = response.status().as_u16();
    let (reported_cost_usd, rate_limit_left) = usage_headers(response.headers());
    let body = match response.text().await {
        Ok(body) => body,
        Err(error) if error.is_timeout() => {
            return Err(fail(
                "timeout",
                format!(
                    "the answer did not finish within {} s",
                    provider.timeout.as_secs()
                ),
                Some(status),
            ));
        }
        Err(error) => {
            return Err(fail(
                "provider_down",
                format!("the connection broke: {}", root_cause(&error)),
                Some(status),
            ));
        }
    };
    if status != 200 {
        let snippet: String = crate::redact::text(&body).chars().take(200).collect();
        return Err(fail(
            status_code(status),
            format!("HTTP {status}: {snippet}"),
            Some(status),
        ));
    }
    let value: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
        fail(
            "invalid_response",
            format!("the response is not JSON: {e}"),
            Some(status),
        )
    })?;
    let answer = Answer::read(provider.kind, &value);
    let Some(text) = answer.text else {
        return Err(fail(
            "invalid_response",
            "the response holds no plan (no message content or submit_plan tool call)".to_owned(),
            Some(status),
        ));
    };
    Ok(Reply {
        text,
        tokens_in: answer.tokens_in,
        tokens_out: answer.tokens_out,
        reported_cost_usd,
        rate_limit_left,
        truncated: answer.truncated,
        latency: started.elapsed(),
    })
}

/// The HTTP request in the provider's own format: OpenAI-compatible chat completions with a
/// strict JSON schema, or Anthropic Messages with a forced `submit_plan` tool call.
fn build_request(
    http: &reqwest::Client,
    provider: &Provider,
    system: &str,
    messages: &[Message],
    schema: &serde_json::Value,
) -> reqwest::RequestBuilder {
    let base = provider.url.trim_end_matches('/');
    match provider.kind {
        ProviderKind::Openai => {
            let mut all = vec![serde_json::json!({"role": "system", "content": system})];
            all.extend(messages.iter().map(|m| serde_json::json!(m)));
            let body = serde_json::json!({
                "model": provider.model,
                "messages": all,
                "max_tokens": provider.max_tokens,
                "temperature": 0,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "chiffon_plan", "strict": true, "schema": schema},
                },
            });
            let mut request = http.post(format!("{base}/chat/completions")).json(&body);
            if let Some(key) = &provider.api_key {
                request = request.bearer_auth(key.expose());
            }
            request
        }
        ProviderKind::Anthropic => {
            let body = serde_json::json!({
                "model": provider.model,
                "max_tokens": provider.max_tokens,
                "system": system,
                "messages": messages,
                "tools": [{
                    "name": "submit_plan",
                    "description": "Submit the plan for the request, using only the listed playbooks.",
                    "input_schema": schema,
                }],
                "tool_choice": {"type": "tool", "name": "submit_plan"},
            });
            let mut request = http
                .post(format!("{base}/v1/messages"))
                .header("anthropic-version", "2023-06-01")
                .json(&body);
            if let Some(key) = &provider.api_key {
                request = request.header("x-api-key", key.expose());
            }
            request
        }
    }
}

/// LiteLLM's reported cost of the call, and the share of the token rate limit left, when the
/// server sends them.
fn usage_headers(headers: &reqwest::header::HeaderMap) -> (Option<f64>, Option<f64>) {
    let header = |name: &str| -> Option<f64> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    };
    let rate_limit_left = match (
        header("x-ratelimit-remaining-tokens"),
        header("x-ratelimit-limit-tokens"),
    ) {
        (Some(left), Some(limit)) if limit > 0.0 => Some((left / limit).clamp(0.0, 1.0)),
        _ => None,
    };
    (header("x-litellm-response-cost"), rate_limit_left)
}

/// The failure code for a non-200 answer.
fn status_code(status: u16) -> &'static str {
    match status {
        429 => "rate_limited",
        529 => "overloaded",
        401 | 403 => "auth_failed",
        500..=599 => "server_error",
        _ => "bad_status",
    }
}

/// What a 200 answer holds: the plan's JSON text (if any), whether it was cut at the token
/// limit, and the tokens used.
struct Answer {
    text: Option<String>,
    truncated: bool,
    tokens_in: u64,
    tokens_out: u64,
}

impl Answer {
    fn read(kind: ProviderKind, value: &serde_json::Value) -> Self {
        let usage = &value["usage"];
        match kind {
            ProviderKind::Openai => {
                let choice = &value["choices"][0];
                Self {
                    text: choice["message"]["content"].as_str().map(str::to_owned),
                    truncated: choice["finish_reason"] == "length",
                    tokens_in: usage["prompt_tokens"].as_u64().unwrap_or(0),
                    tokens_out: usage["completion_tokens"].as_u64().unwrap_or(0),
                }
            }
            ProviderKind::Anthropic => {
                let tool = value["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|block| block["type"] == "tool_use" && block["name"] == "submit_plan");
                Self {
                    text: tool.map(|block| block["input"].to_string()),
                    truncated: value["stop_reason"] == "max_tokens",
                    tokens_in: usage["input_tokens"].as_u64().unwrap_or(0),
                    tokens_out: usage["output_tokens"].as_u64().unwrap_or(0),
                }
            }
        }
    }
}

/// The innermost cause of a reqwest error ("connection refused"), without the URL's secrets.
fn root_cause(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    crate::redact::text(&source.to_string()).into_owned()
}
