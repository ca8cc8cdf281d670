//! The browser-facing defences every request passes before a handler (docs/security.md). The
//! `Host` must be one this server answers to, so a DNS-rebinding page gets nothing, not even
//! the UI. Under `/api/v1`, a state change (POST, PUT, PATCH, DELETE) and the live stream must
//! come from the server's own origin or one the owner allowed, and a state change must be sent
//! as `application/json`: a cross-site page can send neither without a CORS preflight, which
//! this server never grants.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request as HttpRequest, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::ErrorCode;
use crate::config::HttpConfig;
use crate::orchestrator::Core;
use crate::orchestrator::http::ApiError;

/// Where a connection was accepted: the server puts it in every request's extensions, so the
/// port a loopback `Host` must name and the scheme of the server's own origin are known.
#[derive(Debug, Clone, Copy)]
pub struct ServedAt {
    pub port: u16,
    pub tls: bool,
}

/// The middleware: `Host` for every route, then `Origin` and `Content-Type` under `/api/v1`.
pub(crate) async fn guard(
    State(core): State<Arc<Core>>,
    request: HttpRequest,
    next: axum::middleware::Next,
) -> Response {
    match check(&core.config.http, &request) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

fn check(config: &HttpConfig, request: &HttpRequest) -> Result<(), ApiError> {
    let served = request.extensions().get::<ServedAt>().copied();
    let host = request
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}").to_ascii_lowercase());
    if let Some(host) = &host
        && !host_allowed(host, served, &config.allowed_hosts)
    {
        return Err(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            ErrorCode::HostNotAllowed,
            format!(
                "this Chiffon does not answer to the host {host:?} (it answers to localhost, 127.0.0.1, [::1], IP addresses and the hosts its owner configured); if you reach it by this name, add it to `allowed_hosts` under [http] or set `public_url`"
            ),
        ));
    }
    let path = request.uri().path();
    let Some(api_path) = path.strip_prefix("/api/v1") else {
        return Ok(());
    };
    let changes_state = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !changes_state && api_path != "/ws" {
        return Ok(());
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("\u{fffd}");
        if !origin_allowed(origin, host.as_deref(), served, &config.allowed_origins) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::OriginNotAllowed,
                format!(
                    "a page from {origin:?} may not change anything here or open the live stream; only this server's own pages (and the origins in `allowed_origins` or `public_url`) may"
                ),
            ));
        }
    }
    if changes_state && !is_json(request) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send Content-Type: application/json (with `{}` or no body where the body is optional)",
        ));
    }
    Ok(())
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// A configured host (with or without its port), or a loopback name or IP address on the port
/// this server listens on. An IP address cannot be rebound: DNS rebinding needs a name.
pub fn host_allowed(host: &str, served: Option<ServedAt>, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == host) {
        return true;
    }
    let Some((name, port)) = split_host(host) else {
        return false;
    };
    if allowed.iter().any(|a| a == name) {
        return true;
    }
    let local = name == "localhost"
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok();
    if !local {
        return false;
    }
    match served {
        None => true,
        Some(served) => port.unwrap_or(if served.tls { 443 } else { 80 }) == served.port,
    }
}

/// `name[:port]` or `[v6][:port]` → name and port; `None` when the port is not a number.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = if host.starts_with('[') {
        let end = host.find(']')?;
        let rest = &host[end + 1..];
        (&host[..=end], rest.strip_prefix(':'))
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    match port {
        None => Some((name, None)),
        Some(port) => port.parse().ok().map(|p| (name, Some(p))),
    }
}

/// The server's own origin (its scheme and the `Host` it was asked as), or a configured one.
/// `null` (sandboxed frames, file pages) is never allowed.
pub fn origin_allowed(
    origin: &str,
    host: Option<&str>,
    served: Option<ServedAt>,
    allowed: &[String],
) -> bool {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    if allowed.contains(&origin) {
        return true;
    }
    let scheme = if served.is_some_and(|s| s.tls) {
        "https"
    } else {
        "http"
    };
    host.is_some_and(|host| origin == format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_need_the_listen_port_and_names_need_configuring() {
        let at = Some(ServedAt {
            port: 8080,
            tls: false,
        });
        let none: &[String] = &[];
        assert!(host_allowed("localhost:8080", at, none));
        assert!(host_allowed("127.0.0.7:8080", at, none));
        assert!(host_allowed("[::1]:8080", at, none));
        assert!(host_allowed("192.168.1.10:8080", at, none));
        assert!(!host_allowed("localhost:9090", at, none));
        assert!(!host_allowed("localhost", at, none));
        assert!(!host_allowed("evil.example:8080", at, none));
        assert!(!host_allowed("localhost.evil.example:8080", at, none));
        assert!(!host_allowed("localhost:80a", at, none));
        let configured = ["chiffon.lan".to_owned()];
        assert!(host_allowed("chiffon.lan", at, &configured));
        assert!(host_allowed("chiffon.lan:443", at, &configured));
    }

    #[test]
    fn only_the_own_or_a_configured_origin_is_allowed() {
        let at = Some(ServedAt {
            port: 8080,
            tls: false,
        });
        let allowed = ["https://chiffon.home.arpa".to_owned()];
        let host = Some("localhost:8080");
        assert!(origin_allowed("http://localhost:8080", host, at, &[]));
        assert!(!origin_allowed("https://localhost:8080", host, at, &[]));
        assert!(!origin_allowed("http://evil.example", host, at, &[]));
        assert!(!origin_allowed("null", host, at, &[]));
        assert!(origin_allowed(
            "https://chiffon.home.arpa/",
            host,
            at,
            &allowed
        ));
    }
}
