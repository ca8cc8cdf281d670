//! How the CLI shows a plan's open questions: each with its choices and the exact
//! `chiffon answer` command that picks one, so a request that cannot run says how to go on.

use std::fmt::Write;

use crate::api::RequestView;
use crate::model::Question;

/// The open questions of the current plan, each followed by the commands that answer it;
/// empty when none is open.
pub fn open(view: &RequestView) -> String {
    let request = &view.request;
    let mut out = String::new();
    let open: Vec<&Question> = request
        .plan
        .questions
        .iter()
        .filter(|q| q.answer.is_none())
        .collect();
    // A plan made before questions had choices says them in words only.
    let words: Vec<&String> = request
        .plan
        .open_questions
        .iter()
        .filter(|t| !open.iter().any(|q| &q.text == *t))
        .collect();
    if open.is_empty() && words.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\nNeeds your answer (the plan cannot run until then):");
    let id = request.id.as_str();
    for question in &open {
        let _ = writeln!(out, "  ? {}", question.text);
        for choice in &question.choices {
            // A choice two open questions share (keep_theirs for each conflict) needs the
            // question named.
            let shared = open
                .iter()
                .filter(|q| q.choices.iter().any(|c| c.id == choice.id))
                .count()
                > 1;
            let which = if shared {
                format!(" --question {}", shell_word(&question.id))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "      chiffon answer {id} {}{which}   # {}",
                shell_word(&choice.id),
                choice.label
            );
        }
        if let Some(offer) = &question.template {
            let image = offer
                .image
                .as_deref()
                .map_or_else(|| "<image:tag>".to_owned(), |i| format!("{i}:<tag>"));
            let port = offer
                .port
                .map_or_else(|| "<port>".to_owned(), |p| p.to_string());
            let _ = writeln!(
                out,
                "      chiffon answer {id} --template --image {image} --port {port}   # writes a playbook for {} to review, then plans again",
                offer.service
            );
        }
        if question.choices.is_empty() && question.template.is_none() {
            let _ = writeln!(out, "      chiffon modify {id} \"…\"   # say what you mean");
        }
    }
    for text in words {
        let _ = writeln!(out, "  ? {text}");
        let _ = writeln!(out, "      chiffon modify {id} \"…\"   # say what you mean");
    }
    out
}

/// `id` as one shell word: quoted unless it is plainly safe.
fn shell_word(id: &str) -> String {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:,@/+-".contains(c))
    {
        id.to_owned()
    } else {
        format!("'{}'", id.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_ids_are_quoted_only_when_a_shell_would_split_them() {
        assert_eq!(shell_word("nas,lola:postgres"), "nas,lola:postgres");
        assert_eq!(shell_word("two words"), "'two words'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
