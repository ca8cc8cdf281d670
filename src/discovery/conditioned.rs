//! A compose template that renders some services only for one value of a variable
//! (`{% if monitoring_role == "master" %}` around Grafana and Prometheus): those apps run only
//! where the inventory sets that value (`monitoring_role: "master"` in
//! `group_vars/bastion-servers.yml`), not on every host the play targets.

/// The `(variable, value)` of the innermost `{% if <var> == "<value>" %}` block still open at
/// line `line` (1-based) of `text`; `None` outside such a block or for any other condition.
pub(crate) fn only_when(text: &str, line: usize) -> Option<(String, String)> {
    // Each open block: its condition when it is a plain comparison, else `None`.
    let mut open: Vec<Option<(String, String)>> = Vec::new();
    for row in text.lines().take(line.saturating_sub(1)) {
        let mut rest = row;
        while let Some(start) = rest.find("{%") {
            let Some(end) = rest[start..].find("%}") else {
                break;
            };
            let tag = rest[start + 2..start + end]
                .trim()
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            if let Some(condition) = tag.strip_prefix("if ") {
                open.push(comparison(condition));
            } else if tag.starts_with("endif") {
                open.pop();
            } else if tag.starts_with("elif ") || tag == "else" {
                // Another branch: this block's condition no longer holds.
                if let Some(last) = open.last_mut() {
                    *last = None;
                }
            }
            rest = &rest[start + end + 2..];
        }
    }
    open.pop().flatten()
}

/// `var == "value"` (either quote) → `(var, value)`.
fn comparison(condition: &str) -> Option<(String, String)> {
    let (var, value) = condition.split_once("==")?;
    let var = var.trim();
    let value = value.trim();
    let quoted = value.len() >= 2
        && (value.starts_with('"') && value.ends_with('"')
            || value.starts_with('\'') && value.ends_with('\''));
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    };
    let value = &value[1..value.len().saturating_sub(1)];
    (quoted && plain(var) && plain(value)).then(|| (var.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_open_comparison_is_the_condition() {
        let text = "services:\n{% if role == \"master\" %}\n  grafana:\n    image: grafana/grafana\n{% endif %}\n  cadvisor:\n    image: cadvisor\n{% if a == 'x' %}\n{% if b is defined %}\n  c:\n{% endif %}\n{% else %}\n  d:\n{% endif %}\n";
        assert_eq!(
            only_when(text, 3),
            Some(("role".to_owned(), "master".to_owned()))
        );
        assert_eq!(only_when(text, 6), None);
        // Inside a condition that is no plain comparison.
        assert_eq!(only_when(text, 10), None);
        // The else branch of a comparison.
        assert_eq!(only_when(text, 13), None);
    }
}
