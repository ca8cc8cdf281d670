//! Keeps secrets out of everything Chiffon writes down: logs, events, the database and the
//! audit trail. Values are hidden by the name they go by (`password`, `token`, …), both in JSON
//! and in `name=value` / `name: value` text such as Ansible output, and by value: the values
//! of secrets this process was given (the API token, secret-named extra variables, the vault
//! password) are hidden wherever they appear, even bare; and by shape: a word after `Bearer`
//! and bare words that look like well-known credentials (`ghp_…`, `sk-…`, `glpat-…`, `AKIA…`,
//! JSON Web Tokens) — what a person might paste into a reason or a note.

/// What a hidden value is replaced with.
pub const REDACTED: &str = "[redacted]";

const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "authorization",
    "vault_pass",
    "credential",
];

/// Secret values this process knows, hidden wherever they appear.
static KNOWN: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());
/// Shorter values are not hidden by value (they would hide ordinary words).
const MIN_KNOWN_LEN: usize = 6;

/// Hides `value` wherever it appears from now on, in this process.
pub fn remember(value: &str) {
    let value = value.trim();
    if value.chars().count() < MIN_KNOWN_LEN {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| k == value) {
        known.push(value.to_owned());
        // Longest first, so a secret containing another is hidden whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// Remembers the values of the secret-named variables in `vars` (at any depth).
pub fn remember_secrets_in(vars: &serde_json::Map<String, serde_json::Value>) {
    fn strings(value: &serde_json::Value) {
        match value {
            serde_json::Value::String(s) => remember(s),
            serde_json::Value::Array(items) => items.iter().for_each(strings),
            serde_json::Value::Object(map) => map.values().for_each(strings),
            _ => {}
        }
    }
    for (key, value) in vars {
        match value {
            serde_json::Value::Object(inner) if !is_secret_key(key) => remember_secrets_in(inner),
            _ if is_secret_key(key) => strings(value),
            _ => {}
        }
    }
}

/// `input` with every known secret value replaced.
fn known_values(input: &str) -> std::borrow::Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| input.contains(k.as_str())) {
        return std::borrow::Cow::Borrowed(input);
    }
    let mut out = input.to_owned();
    for secret in known.iter() {
        out = out.replace(secret.as_str(), REDACTED);
    }
    std::borrow::Cow::Owned(out)
}

/// Whether a key names a secret (`db_password`, `X-Api-Key`, `vault_pass`, …).
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    SECRET_WORDS.iter().any(|word| key.contains(word))
}

/// Replaces every value whose key names a secret, at any depth, and scrubs strings.
pub fn json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if is_secret_key(key) && !value.is_null() {
                    *value = serde_json::Value::String(REDACTED.to_owned());
                } else {
                    json(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(json),
        serde_json::Value::String(text) => {
            if let std::borrow::Cow::Owned(clean) = self::text(text) {
                *text = clean;
            }
        }
        _ => {}
    }
}

/// Hides known secret values, the value after `secret_name=` or `secret_name: ` in free
/// text (up to the next whitespace, comma, quote or closing bracket), and words shaped like
/// credentials.
pub fn text(input: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let known = known_values(input);
    let named = match by_name(&known) {
        Cow::Owned(named) => Some(named),
        Cow::Borrowed(_) => None,
    };
    let named = named.map_or(known, Cow::Owned);
    let shaped = match by_shape(&named) {
        Cow::Owned(shaped) => Some(shaped),
        Cow::Borrowed(_) => None,
    };
    shaped.map_or(named, Cow::Owned)
}

/// Prefixes of credentials their issuers made recognisable on purpose.
const CREDENTIAL_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "sk-",
    "xoxb-",
    "xoxp-",
    "xapp-",
    "hvs.",
    "akia",
    "asia",
];

/// Whether a bare word looks like a credential: a known prefix and at least 16 characters of
/// token alphabet, or a JSON Web Token.
fn looks_like_credential(word: &str) -> bool {
    let token_alphabet = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '/' | '='));
    if word.len() < 16 || !token_alphabet {
        return false;
    }
    let lower = word.to_ascii_lowercase();
    CREDENTIAL_PREFIXES.iter().any(|p| lower.starts_with(p))
        || (word.starts_with("eyJ") && word.matches('.').count() == 2)
}

fn by_shape(input: &str) -> std::borrow::Cow<'_, str> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut after_bearer = false;
    let mut start = None;
    let is_separator = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ',' | '"' | '\'' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | ';'
            )
    };
    for (i, c) in input
        .char_indices()
        .chain(std::iter::once((input.len(), ' ')))
    {
        if !is_separator(c) {
            start.get_or_insert(i);
            continue;
        }
        let Some(from) = start.take() else { continue };
        let word = input[from..i].trim_end_matches(['.', ':', '!', '?']);
        let end = from + word.len();
        if after_bearer && word.len() >= 8 || looks_like_credential(word) {
            spans.push((from, end));
        }
        after_bearer = word.eq_ignore_ascii_case("bearer");
    }
    if spans.is_empty() {
        return std::borrow::Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len());
    let mut last = 0;
    for (from, end) in spans {
        out.push_str(&input[last..from]);
        out.push_str(REDACTED);
        last = end;
    }
    out.push_str(&input[last..]);
    std::borrow::Cow::Owned(out)
}

fn by_name(input: &str) -> std::borrow::Cow<'_, str> {
    let lower = input.to_ascii_lowercase();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for word in SECRET_WORDS {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(word) {
            let mut i = from + pos + word.len();
            // allow the rest of an identifier: `password_file`, `token2`
            while i < lower.len()
                && (lower.as_bytes()[i].is_ascii_alphanumeric() || lower.as_bytes()[i] == b'_')
            {
                i += 1;
            }
            let rest = &lower.as_bytes()[i..];
            let sep = rest
                .iter()
                .take_while(|b| matches!(b, b' ' | b'"' | b'\''))
                .count();
            if matches!(rest.get(sep), Some(b'=') | Some(b':')) {
                let mut start = i + sep + 1;
                while start < lower.len() && matches!(lower.as_bytes()[start], b' ' | b'"' | b'\'')
                {
                    start += 1;
                }
                let end = lower[start..]
                    .find(|c: char| c.is_whitespace() || matches!(c, ',' | '"' | '\'' | '}' | ']'))
                    .map_or(lower.len(), |n| start + n);
                if end > start {
                    spans.push((start, end));
                }
            }
            from = i;
        }
    }
    if spans.is_empty() {
        return std::borrow::Cow::Borrowed(input);
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(input.len());
    let mut last = 0;
    for (start, end) in spans {
        if start < last {
            continue;
        }
        out.push_str(&input[last..start]);
        out.push_str(REDACTED);
        last = end;
    }
    out.push_str(&input[last..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_hidden_at_any_depth() {
        let mut value = serde_json::json!({
            "db_password": "hunter2",
            "nested": [{"API-Key": "abc", "name": "kuma"}],
            "note": "login with token=s3cr3t now",
        });
        json(&mut value);
        let out = value.to_string();
        assert!(
            !out.contains("hunter2") && !out.contains("abc") && !out.contains("s3cr3t"),
            "{out}"
        );
        assert!(out.contains("kuma"));
    }

    #[test]
    fn free_text_keeps_everything_but_the_secret() {
        assert_eq!(
            text("vault_password_file: /x/y ok"),
            format!("vault_password_file: {REDACTED} ok")
        );
        assert_eq!(
            text("password=\"p w\" then"),
            format!("password=\"{REDACTED} w\" then")
        );
        assert_eq!(text("nothing to see"), "nothing to see");
        assert_eq!(text("my token is fine"), "my token is fine");
    }

    #[test]
    fn words_shaped_like_credentials_are_hidden() {
        let pasted = "oops: ghp_0123456789abcdefABCDEF0123 and Bearer abc.def-123456, sk-live-0123456789abcdef.";
        assert_eq!(
            text(pasted),
            format!("oops: {REDACTED} and Bearer {REDACTED}, {REDACTED}.")
        );
        assert_eq!(text("skip the sk-step please"), "skip the sk-step please");
        assert_eq!(text("a bearer of good news"), "a bearer of good news");
    }

    #[test]
    fn remembered_values_are_hidden_even_bare() {
        let mut vars = serde_json::Map::new();
        vars.insert("db_password".into(), "unit-test-bare-secret-1".into());
        vars.insert("homelab_root".into(), "/srv/homelab".into());
        vars.insert(
            "smtp".into(),
            serde_json::json!({"user": "me", "password": "unit-test-nested-secret-2"}),
        );
        remember_secrets_in(&vars);
        remember("short");
        let line = "connecting with unit-test-bare-secret-1 and unit-test-nested-secret-2 to /srv/homelab as short";
        assert_eq!(
            text(line),
            format!("connecting with {REDACTED} and {REDACTED} to /srv/homelab as short")
        );
        let mut value = serde_json::json!({"msg": "got unit-test-bare-secret-1"});
        json(&mut value);
        assert_eq!(value["msg"], format!("got {REDACTED}"));
    }
}
