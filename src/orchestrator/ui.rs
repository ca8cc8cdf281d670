//! The web UI: one page at `/` and its scripts and styles under `/ui/`, all embedded in the
//! binary from `assets/ui/` (plain HTML, CSS and JavaScript modules: no build step, no CDN, so
//! it works offline). The page is a client of the REST API and the live event stream.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::ErrorCode;
use crate::orchestrator::http::ApiError;

/// Every file the page loads: name under `/ui/`, content type, contents.
const FILES: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/ui/style.css"),
    ),
    ("app.js", JS, include_str!("../../assets/ui/app.js")),
    ("answer.js", JS, include_str!("../../assets/ui/answer.js")),
    ("api.js", JS, include_str!("../../assets/ui/api.js")),
    ("dom.js", JS, include_str!("../../assets/ui/dom.js")),
    ("chat.js", JS, include_str!("../../assets/ui/chat.js")),
    ("run.js", JS, include_str!("../../assets/ui/run.js")),
    ("views.js", JS, include_str!("../../assets/ui/views.js")),
    ("suggest.js", JS, include_str!("../../assets/ui/suggest.js")),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../assets/ui/icon.svg"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";
const INDEX: &str = include_str!("../../assets/ui/index.html");

/// Same-origin everything: the page needs no other host, so it may reach none.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'";

/// `/` (the page) and `/ui/{file}` (what it loads). Stateless, so it merges into any router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{file}", get(asset))
}

async fn index() -> Response {
    respond("text/html; charset=utf-8", INDEX)
}

async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => respond(content_type, body),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownRoute,
            format!("no file /ui/{file}; the web UI is at /"),
        )
        .into_response(),
    }
}

fn respond(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The files change with the binary; revalidating is cheap on a LAN.
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `/ui/…` the page names and every module a script imports is embedded, so a file
    /// added to `assets/ui/` but not to `FILES` fails here rather than in a browser.
    #[test]
    fn every_file_the_page_loads_is_served() {
        let mut wanted: Vec<String> = Vec::new();
        for text in std::iter::once(INDEX).chain(FILES.iter().map(|(_, _, body)| *body)) {
            for (start, _) in text.match_indices("/ui/") {
                let rest = &text[start + 4..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                    .unwrap_or(rest.len());
                wanted.push(rest[..end].to_owned());
            }
            for (start, _) in text.match_indices("from \"./") {
                let rest = &text[start + 8..];
                wanted.push(rest[..rest.find('"').unwrap()].to_owned());
            }
        }
        assert!(wanted.iter().any(|w| w == "app.js"), "{wanted:?}");
        // Offline: nothing is fetched from another host (an SVG's xmlns is a name, not a fetch).
        for text in std::iter::once(INDEX).chain(FILES.iter().map(|(_, _, body)| *body)) {
            let fetched = text.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(
                !fetched.contains("https://") && !fetched.contains("http://"),
                "the web UI must not load anything from another host"
            );
        }
        for name in wanted {
            assert!(
                FILES.iter().any(|(file, _, _)| *file == name),
                "{name} is loaded by the page but not embedded in FILES"
            );
        }
    }
}
