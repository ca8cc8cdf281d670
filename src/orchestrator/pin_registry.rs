//! The newest version of a pinned image, asked of its registry when an upgrade names none:
//! the Docker Registry HTTP API v2 tags list (`GET /v2/<name>/tags/list`, following `Link`
//! pages), with the anonymous token flow Docker Hub, ghcr.io and lscr.io (served by ghcr.io)
//! answer with (`401` + `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, then a token
//! from the realm). A tag counts when it has the shape of the pinned one: the same leading
//! `v`, as many numeric parts, the same suffix, so no pre-release or variant is offered.
//!
//! Invariant: only reads a public registry, anonymously, within a short timeout; what it
//! finds becomes a choice the person picks, never a version Chiffon moves to on its own.

use std::time::Duration;

use anyhow::Context;

/// How long the whole look-up may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(4);
/// Pages of tags read at most.
const MAX_PAGES: usize = 20;

/// An image reference split into where its registry answers and its repository name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    /// `https://registry-1.docker.io`, `https://ghcr.io`, or `http://127.0.0.1:5000` for a
    /// registry on this machine.
    pub base: String,
    /// `library/redis`, `jellyfin/jellyfin`.
    pub name: String,
    pub tag: String,
}

/// Reads `image` (`[registry/]name[:tag]`); `None` for a template, a digest or no tag.
pub(crate) fn parse_image(image: &str) -> Option<ImageRef> {
    let image = image.trim();
    if image.contains("{{") || image.contains('@') {
        return None;
    }
    let (tag_at, _) = crate::planner::upgrade::tag_span(image)?;
    let (reference, tag) = (&image[..tag_at - 1], &image[tag_at..]);
    let (registry, name) = match reference.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest.to_owned())
        }
        _ => ("docker.io", reference.to_owned()),
    };
    let base = match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://registry-1.docker.io".to_owned()
        }
        // lscr.io answers by redirecting to ghcr.io, where the images live.
        "lscr.io" => "https://ghcr.io".to_owned(),
        local if local.starts_with("localhost") || local.starts_with("127.") => {
            format!("http://{local}")
        }
        other => format!("https://{other}"),
    };
    let name = if base.ends_with("docker.io") && !name.contains('/') {
        format!("library/{name}")
    } else {
        name
    };
    Some(ImageRef {
        base,
        name,
        tag: tag.to_owned(),
    })
}

/// A tag's shape: leading `v`, numeric parts, suffix.
fn shape(tag: &str) -> Option<(bool, Vec<u64>, &str)> {
    let (v, rest) = match tag.strip_prefix('v') {
        Some(rest) => (true, rest),
        None => (false, tag),
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (numbers, suffix) = rest.split_at(end);
    if numbers.is_empty() || numbers.ends_with('.') {
        return None;
    }
    let parts: Option<Vec<u64>> = numbers.split('.').map(|p| p.parse().ok()).collect();
    Some((v, parts?, suffix))
}

/// The newest tag in `tags` shaped like `current` and newer than it.
pub(crate) fn newest_like(current: &str, tags: &[String]) -> Option<String> {
    let (v, now, suffix) = shape(current)?;
    tags.iter()
        .filter_map(|t| {
            let (tv, parts, ts) = shape(t)?;
            (tv == v && ts == suffix && parts.len() == now.len() && parts > now)
                .then_some((parts, t))
        })
        .max()
        .map(|(_, t)| t.clone())
}

/// The tags of `image` in its registry, anonymously (all pages, up to a limit).
pub(crate) async fn tags(http: &reqwest::Client, image: &ImageRef) -> anyhow::Result<Vec<String>> {
    let mut url = format!("{}/v2/{}/tags/list?n=1000", image.base, image.name);
    let mut token: Option<String> = None;
    let mut all = Vec::new();
    for _ in 0..MAX_PAGES {
        let mut answer = get(http, &url, token.as_deref()).await?;
        if answer.status() == reqwest::StatusCode::UNAUTHORIZED && token.is_none() {
            let challenge = answer
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            token = Some(anonymous_token(http, &challenge, &image.name).await?);
            answer = get(http, &url, token.as_deref()).await?;
        }
        anyhow::ensure!(
            answer.status().is_success(),
            "{} answered {} for the tags of {}",
            image.base,
            answer.status(),
            image.name
        );
        let next = answer
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_page);
        let body: serde_json::Value = answer.json().await.context("the tags list is not JSON")?;
        let page = body["tags"].as_array().cloned().unwrap_or_default();
        all.extend(page.iter().filter_map(|t| t.as_str().map(str::to_owned)));
        match next {
            Some(next) if next.starts_with('/') => url = format!("{}{next}", image.base),
            Some(next) if next.starts_with(&image.base) => url = next,
            _ => return Ok(all),
        }
    }
    Ok(all)
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<reqwest::Response> {
    let mut request = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .with_context(|| format!("cannot reach {}", origin(url)))
}

/// `scheme://host[:port]` of a URL, for messages.
fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    url[after..].find('/').map_or(url, |i| &url[..after + i])
}

/// The anonymous pull token the `WWW-Authenticate: Bearer realm=…` challenge offers.
async fn anonymous_token(
    http: &reqwest::Client,
    challenge: &str,
    name: &str,
) -> anyhow::Result<String> {
    let params = challenge
        .strip_prefix("Bearer ")
        .context("the registry asks for a login Chiffon does not have")?;
    let param = |key: &str| {
        params.split(',').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == key).then(|| v.trim_matches('"').to_owned())
        })
    };
    let realm = param("realm").context("the registry's challenge names no realm")?;
    anyhow::ensure!(
        realm.starts_with("https://")
            || realm.starts_with("http://127.")
            || realm.starts_with("http://localhost"),
        "the registry's token realm {realm} is not https"
    );
    let scope = param("scope").unwrap_or_else(|| format!("repository:{name}:pull"));
    let mut url = format!("{realm}?scope={}", encoded(&scope));
    if let Some(service) = param("service") {
        url.push_str(&format!("&service={}", encoded(&service)));
    }
    let answer = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", origin(&realm)))?;
    anyhow::ensure!(
        answer.status().is_success(),
        "{} refused an anonymous token ({})",
        origin(&realm),
        answer.status()
    );
    let body: serde_json::Value = answer
        .json()
        .await
        .context("the token answer is not JSON")?;
    body["token"]
        .as_str()
        .or(body["access_token"].as_str())
        .map(str::to_owned)
        .context("the token answer holds no token")
}

/// `text` as a URL query value (everything but unreserved characters percent-encoded).
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The next page from a `Link: </v2/…?last=x&n=1000>; rel="next"` header.
fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

/// The newest tag shaped like `image`'s, or why it could not be found; `Ok(None)` when the
/// pinned one is the newest.
pub(crate) async fn newest(http: &reqwest::Client, image: &str) -> anyhow::Result<Option<String>> {
    let reference =
        parse_image(image).with_context(|| format!("{image} names no tag to compare"))?;
    let listed = tokio::time::timeout(TIMEOUT, tags(http, &reference))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "{} did not answer within {} s",
                origin(&reference.base),
                TIMEOUT.as_secs()
            )
        })??;
    Ok(newest_like(&reference.tag, &listed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn images_name_their_registry_and_repository() {
        let hub = parse_image("jellyfin/jellyfin:10.9.11").unwrap();
        assert_eq!(hub.base, "https://registry-1.docker.io");
        assert_eq!(hub.name, "jellyfin/jellyfin");
        assert_eq!(hub.tag, "10.9.11");
        assert_eq!(parse_image("redis:7.2").unwrap().name, "library/redis");
        let lscr = parse_image("lscr.io/linuxserver/sonarr:4.0.15").unwrap();
        assert_eq!(
            (lscr.base.as_str(), lscr.name.as_str()),
            ("https://ghcr.io", "linuxserver/sonarr")
        );
        let local = parse_image("127.0.0.1:5000/apps/gitea:1.22.3").unwrap();
        assert_eq!(local.base, "http://127.0.0.1:5000");
        assert_eq!(parse_image("gitea/gitea:{{ gitea_version }}"), None);
        assert_eq!(parse_image("gitea/gitea"), None);
    }

    #[test]
    fn only_tags_shaped_like_the_pinned_one_count() {
        let tags: Vec<String> = [
            "10.9.11",
            "10.9.2",
            "10.10.3",
            "10.10.3-rc1",
            "10.11.0-beta2",
            "10.10",
            "latest",
            "2024091605",
            "v10.10.9",
            "10.10.4-amd64",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(newest_like("10.9.11", &tags).as_deref(), Some("10.10.3"));
        assert_eq!(newest_like("10.10.3", &tags), None, "already the newest");
        assert_eq!(newest_like("v10.9.0", &tags).as_deref(), Some("v10.10.9"));
        assert_eq!(
            newest_like("10.10.3-amd64", &tags).as_deref(),
            Some("10.10.4-amd64")
        );
        assert_eq!(newest_like("latest", &tags), None);
    }

    /// A registry on this machine speaking the v2 wire format: the tags list answers `401`
    /// with a Bearer challenge, the realm gives an anonymous token, and the list comes in two
    /// pages linked with `Link`. Returns its address and the requests it saw.
    async fn registry() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (base, log) = (address.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut buffer = vec![0u8; 8192];
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buffer[..n]).to_string();
                let line = head.lines().next().unwrap_or_default().to_owned();
                let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                let authorized = head
                    .lines()
                    .any(|l| l.eq_ignore_ascii_case("authorization: Bearer anon-token"));
                log.lock()
                    .unwrap()
                    .push(format!("{path} auth={authorized}"));
                let (status, headers, body) = if path.starts_with("/token?") {
                    assert!(
                        path.contains("scope=repository%3Ajellyfin%2Fjellyfin%3Apull"),
                        "{path}"
                    );
                    (
                        "200 OK",
                        String::new(),
                        r#"{"token":"anon-token","expires_in":300}"#.to_owned(),
                    )
                } else if !authorized {
                    (
                        "401 Unauthorized",
                        format!("WWW-Authenticate: Bearer realm=\"http://{base}/token\",service=\"test-registry\",scope=\"repository:jellyfin/jellyfin:pull\"\r\n"),
                        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.to_owned(),
                    )
                } else if path.contains("last=") {
                    ("200 OK", String::new(), r#"{"name":"jellyfin/jellyfin","tags":["10.10.3","10.10.3-rc1","10.11.0-rc2","latest"]}"#.to_owned())
                } else {
                    (
                        "200 OK",
                        "Link: </v2/jellyfin/jellyfin/tags/list?last=10.9.9&n=1000>; rel=\"next\"\r\n".to_owned(),
                        r#"{"name":"jellyfin/jellyfin","tags":["10.9.11","10.9.2","10.9.9"]}"#.to_owned(),
                    )
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (address, seen)
    }

    #[tokio::test]
    async fn the_newest_tag_comes_from_the_registry_through_its_anonymous_token() {
        let (address, seen) = registry().await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let image = format!("{address}/jellyfin/jellyfin:10.9.11");
        assert_eq!(
            newest(&http, &image).await.unwrap().as_deref(),
            Some("10.10.3")
        );
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                "/v2/jellyfin/jellyfin/tags/list?n=1000 auth=false",
                "/token?scope=repository%3Ajellyfin%2Fjellyfin%3Apull&service=test-registry auth=false",
                "/v2/jellyfin/jellyfin/tags/list?n=1000 auth=true",
                "/v2/jellyfin/jellyfin/tags/list?last=10.9.9&n=1000 auth=true",
            ]
        );
        let at_newest = format!("{address}/jellyfin/jellyfin:10.10.3");
        assert_eq!(newest(&http, &at_newest).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_unreachable_registry_says_so_within_the_timeout() {
        // A port nothing listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let http = reqwest::Client::new();
        let started = std::time::Instant::now();
        let error = newest(&http, &format!("{address}/jellyfin/jellyfin:10.9.11"))
            .await
            .unwrap_err();
        assert!(started.elapsed() <= TIMEOUT + Duration::from_secs(1));
        assert!(
            format!("{error:#}").contains(&format!("cannot reach http://{address}")),
            "{error:#}"
        );
    }
}
