//! The API's own description: `/openapi.json` (also under `/api/v1`) and the `/docs` page that
//! renders it offline.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

const OPENAPI: &str = include_str!("../../../assets/openapi.json");
const DOCS_PAGE: &str = include_str!("../../../assets/docs.html");

pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub(crate) async fn docs() -> Html<&'static str> {
    Html(DOCS_PAGE)
}
