//! The API's own description: `/openapi.json` (public: it holds no secret, and the `/docs` page
//! must work when the API needs a token; also under `/api/v1`) and the `/docs` page that
//! renders it offline, its script and style served as files under a strict
//! Content-Security-Policy (no inline script or style, no other host).

use axum::http::header;
use axum::response::{IntoResponse, Response};

const OPENAPI: &str = include_str!("../../../assets/openapi.json");
const DOCS_PAGE: &str = include_str!("../../../assets/docs.html");
const DOCS_SCRIPT: &str = include_str!("../../../assets/docs.js");
const DOCS_STYLE: &str = include_str!("../../../assets/docs.css");

/// The page needs only its own script, style and the description from this server.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'none'";

pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub(crate) async fn docs() -> Response {
    respond("text/html; charset=utf-8", DOCS_PAGE)
}

pub(crate) async fn script() -> Response {
    respond("text/javascript; charset=utf-8", DOCS_SCRIPT)
}

pub(crate) async fn style() -> Response {
    respond("text/css; charset=utf-8", DOCS_STYLE)
}

fn respond(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}
