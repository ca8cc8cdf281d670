//! Keeps secrets out of everything Chiffon writes down: logs, events, the database and the
//! audit trail. Values are hidden by the name they go by (`password`, `token`, …), both in JSON
//! and in `name=value` / `name: value` text such as Ansible output.

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

/// Hides the value after `secret_name=` or `secret_name: ` in free text, up to the next
/// whitespace, comma, quote or closing bracket.
pub fn text(input: &str) -> std::borrow::Cow<'_, str> {
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
}
