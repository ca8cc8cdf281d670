//! Where rules put what they find: `Findings` adds a suggestion with its stable id and writes
//! the unified diffs of mechanical fixes against the file as it is.

use std::fmt::Write as _;

use crate::suggest::{Severity, Suggestion};

/// The suggestions found so far, and the file a rule is reading.
pub(crate) struct Findings<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub out: &'a mut Vec<Suggestion>,
}

impl Findings<'_> {
    pub fn add(
        &mut self,
        rule: &str,
        line: usize,
        severity: Severity,
        message: String,
        diff: Option<String>,
    ) {
        let line_text = self.line_text(line);
        let id = format!(
            "{:012x}",
            fnv(&format!("{rule}\0{}\0{line}\0{line_text}", self.file)) & 0xffff_ffff_ffff
        );
        self.out.push(Suggestion {
            id,
            rule: rule.to_owned(),
            file: self.file.to_owned(),
            line,
            severity,
            message,
            diff,
            origin: crate::suggest::Origin::Chiffon,
        });
    }

    /// A diff inserting `lines` (already indented) after line `after`.
    pub fn insert_after(&self, after: usize, lines: &[String]) -> String {
        let mut new: Vec<String> = self.text.lines().map(str::to_owned).collect();
        let at = after.min(new.len());
        for (i, line) in lines.iter().enumerate() {
            new.insert(at + i, line.clone());
        }
        unified(self.file, self.text, &new)
    }

    /// A diff replacing line `line` with `with` (or deleting it).
    pub fn replace_line(&self, line: usize, with: Option<String>) -> String {
        let mut new: Vec<String> = self.text.lines().map(str::to_owned).collect();
        let at = line.saturating_sub(1).min(new.len().saturating_sub(1));
        match with {
            Some(with) => new[at] = with,
            None => {
                new.remove(at);
            }
        }
        unified(self.file, self.text, &new)
    }

    pub fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }

    /// Whether the person silenced this rule (or ansible-lint's twin of it) on this line or
    /// the line before with a `# noqa` comment.
    pub fn silenced(&self, line: usize, names: &[&str]) -> bool {
        [line.saturating_sub(1), line].iter().any(|&l| {
            let text = self.line_text(l);
            text.find("noqa").is_some_and(|at| {
                let rest = &text[at + 4..];
                rest.trim().is_empty() || names.iter().any(|n| rest.contains(n))
            })
        })
    }
}

/// FNV-1a, for short stable ids.
pub(crate) fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One hunk around the lines that differ, three lines of context, `a/` and `b/` prefixes.
pub fn unified(file: &str, old_text: &str, new: &[String]) -> String {
    let old: Vec<&str> = old_text.lines().collect();
    let prefix = old
        .iter()
        .zip(new)
        .take_while(|(a, b)| **a == b.as_str())
        .count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| **a == b.as_str())
        .count();
    let start = prefix.saturating_sub(3);
    let old_end = (old.len() - suffix + 3).min(old.len());
    let new_end = (new.len() - suffix + 3).min(new.len());
    let mut out = format!(
        "--- a/{file}\n+++ b/{file}\n@@ -{},{} +{},{} @@\n",
        start + 1,
        old_end - start,
        start + 1,
        new_end - start
    );
    for line in &old[start..prefix] {
        let _ = writeln!(out, " {line}");
    }
    for line in &old[prefix..old.len() - suffix] {
        let _ = writeln!(out, "-{line}");
    }
    for line in &new[prefix..new.len() - suffix] {
        let _ = writeln!(out, "+{line}");
    }
    for line in &old[old.len() - suffix..old_end] {
        let _ = writeln!(out, " {line}");
    }
    out
}
