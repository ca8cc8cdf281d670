//! Keeps the documentation and the architecture honest: every source file says what it is for,
//! ARCHITECTURE.md's code map names exactly the files and folders that exist, the modules import
//! only what their layer allows (and form no cycle), only `tools` starts processes, and no file
//! or function grows past the size where it hides two ideas.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_comment() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("tests"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must start with a `//!` comment saying what it is for",
            file.display()
        );
    }
}

#[test]
fn the_code_map_matches_the_tree() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let code_map = &map[map.find("## Code map").unwrap()..map.find("## Cross-cutting").unwrap()];
    // Every path the map names exists.
    for heading in code_map.lines().filter(|l| l.starts_with("### ")) {
        for path in heading.split('`').skip(1).step_by(2) {
            assert!(
                root().join(path).exists(),
                "ARCHITECTURE.md names {path}, which does not exist"
            );
        }
    }
    // Every source file is named in the map.
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for file in files {
        let relative = file.strip_prefix(root()).unwrap().display().to_string();
        assert!(
            code_map.contains(&format!("`{relative}`")),
            "{relative} is missing from ARCHITECTURE.md's code map"
        );
    }
}

/// The source of a file without its `#[cfg(test)] mod tests` block (tests may reach anywhere)
/// and with comments, strings and character literals blanked out, line numbers kept.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, s: &str| {
        out.extend(s.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
    };
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if (rest.starts_with("r\"") || rest.starts_with("r#"))
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
        {
            let hashes = rest[1..].chars().take_while(|c| *c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            let end = rest[body..]
                .find(&close)
                .map_or(rest.len(), |e| body + e + close.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() && rest.as_bytes()[j] != b'"' {
                j += if rest.as_bytes()[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with('\'')
            && let Some(len) = char_literal_len(rest)
        {
            blank(&mut out, &rest[..len]);
            i += len;
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `'x'`, `'\n'`, `'{'`: a character literal's length (a lifetime like `'a` is none).
fn char_literal_len(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices().skip(1);
    let (_, first) = chars.next()?;
    let (at, next) = if first == '\\' {
        let (_, _) = chars.next()?;
        chars.next()?
    } else {
        chars.next()?
    };
    (next == '\'').then_some(at + 1)
}

/// Top-level module of a file under `src/` (`src/orchestrator/http.rs` → `orchestrator`).
fn top_module(relative: &Path) -> Option<String> {
    let first = relative.components().nth(1)?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// What a module may import from the rest of the crate: only these, or anything but these.
enum Allowed {
    Only(&'static [&'static str]),
    Never(&'static [&'static str]),
}

/// What the modules that read the owner's repository never import: they only read files.
const READS_THE_HOMELAB: &[&str] = &[
    "bus",
    "store",
    "orchestrator",
    "server",
    "tools",
    "agent",
    "client",
    "cli",
];

/// The layers (ARCHITECTURE.md, "Invariants"): leaves import nothing above them, the store and
/// the client know nothing of the server, agents never touch the store, the planner is pure.
const IMPORT_RULES: &[(&str, Allowed)] = &[
    ("model", Allowed::Only(&[])),
    ("text", Allowed::Only(&[])),
    ("repo", Allowed::Only(&[])),
    ("redact", Allowed::Only(&[])),
    ("protocol", Allowed::Only(&["model"])),
    ("registry", Allowed::Only(&["model", "protocol"])),
    ("tools", Allowed::Only(&["redact"])),
    ("bus", Allowed::Only(&["model"])),
    ("api", Allowed::Only(&["model", "protocol"])),
    ("client", Allowed::Only(&["api", "model"])),
    ("store", Allowed::Only(&["model", "registry"])),
    (
        "agent",
        Allowed::Never(&[
            "store",
            "orchestrator",
            "server",
            "api",
            "client",
            "cli",
            "planner",
            "audit",
        ]),
    ),
    (
        "planner",
        Allowed::Never(&[
            "bus",
            "store",
            "orchestrator",
            "server",
            "tools",
            "agent",
            "llm",
            "audit",
            "client",
            "cli",
        ]),
    ),
    ("matcher", Allowed::Never(READS_THE_HOMELAB)),
    ("catalogue", Allowed::Never(READS_THE_HOMELAB)),
    ("portals", Allowed::Never(READS_THE_HOMELAB)),
    (
        "suggest",
        Allowed::Never(&[
            "bus",
            "store",
            "orchestrator",
            "server",
            "agent",
            "client",
            "cli",
        ]),
    ),
    (
        "audit",
        Allowed::Never(&["orchestrator", "server", "agent", "client", "cli", "bus"]),
    ),
    (
        "llm",
        Allowed::Never(&[
            "orchestrator",
            "server",
            "store",
            "bus",
            "agent",
            "client",
            "cli",
        ]),
    ),
    (
        "orchestrator",
        Allowed::Never(&["agent", "server", "cli", "client"]),
    ),
    (
        "ops",
        Allowed::Never(&["orchestrator", "server", "cli", "client", "agent"]),
    ),
];

/// Every `crate::<module>` a file's code names, with its line, by top-level module.
fn crate_references(code: &str) -> Vec<(usize, String, String)> {
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((number + 1, name, line.trim().to_owned()));
            }
            rest = after;
        }
    }
    found
}

fn module_graph() -> (
    std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    Vec<String>,
) {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.sort();
    let mut graph: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    let mut broken = Vec::new();
    for file in files {
        let relative = file.strip_prefix(root()).unwrap().to_owned();
        let Some(from) = top_module(&relative) else {
            continue;
        };
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        graph.entry(from.clone()).or_default();
        for (line, to, text) in crate_references(&code) {
            if to == from {
                continue;
            }
            graph.entry(from.clone()).or_default().insert(to.clone());
            let Some((_, rule)) = IMPORT_RULES.iter().find(|(m, _)| *m == from) else {
                continue;
            };
            let refused = match rule {
                Allowed::Only(allowed) => !allowed.contains(&to.as_str()),
                Allowed::Never(never) => never.contains(&to.as_str()),
            };
            if refused {
                let why = match rule {
                    Allowed::Only([]) => {
                        format!("{from} imports nothing of the crate")
                    }
                    Allowed::Only(a) => format!("{from} may import only {}", a.join(", ")),
                    Allowed::Never(n) => format!("{from} never imports {}", n.join(", ")),
                };
                broken.push(format!("{}:{line}: `{text}` ({why})", relative.display()));
            }
        }
    }
    (graph, broken)
}

#[test]
fn modules_import_only_what_their_layer_allows() {
    let (_, broken) = module_graph();
    assert!(
        broken.is_empty(),
        "forbidden imports:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_top_level_modules_form_no_cycle() {
    let (graph, _) = module_graph();
    // Depth-first search; a back edge closes a cycle.
    fn visit(
        node: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!(
                "the modules import each other in a cycle: {}",
                cycle.join(" → ")
            );
        }
    }
}

#[test]
fn only_the_tools_module_starts_processes() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(root()).unwrap().to_owned();
        if top_module(&relative).as_deref() == Some("tools") {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for (number, line) in code.lines().enumerate() {
            if line.contains("Command::new") || line.contains("process::Command") {
                found.push(format!(
                    "{}:{}: {}",
                    relative.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "only src/tools* may start processes (add a function there):\n{}",
        found.join("\n")
    );
}

#[test]
fn no_source_file_passes_1200_lines_and_no_function_150() {
    const MAX_FILE_LINES: usize = 1200;
    const MAX_FN_LINES: usize = 150;
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut too_long = Vec::new();
    for file in files {
        let relative = file.strip_prefix(root()).unwrap().display().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            too_long.push(format!(
                "{relative}: {lines} lines (at most {MAX_FILE_LINES})"
            ));
        }
        let code: Vec<String> = code_of(&text).lines().map(str::to_owned).collect();
        for (start, line) in code.iter().enumerate() {
            let Some(name) = function_name(line) else {
                continue;
            };
            if let Some(length) = body_length(&code[start..])
                && length > MAX_FN_LINES
            {
                too_long.push(format!(
                    "{relative}:{}: fn {name} is {length} lines (at most {MAX_FN_LINES})",
                    start + 1
                ));
            }
        }
    }
    assert!(
        too_long.is_empty(),
        "split these along their seams:\n{}",
        too_long.join("\n")
    );
}

/// `pub async fn name(` → `name`.
fn function_name(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "fn")?;
    let before_ok = words[..at].iter().all(|w| {
        matches!(*w, "pub" | "async" | "const" | "unsafe" | "extern") || w.starts_with("pub(")
    });
    let name: String = words
        .get(at + 1)?
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (before_ok && !name.is_empty()).then_some(name)
}

/// Lines from a function's signature to its closing brace; `None` for a declaration.
fn body_length(lines: &[String]) -> Option<usize> {
    let mut depth = 0i32;
    let mut opened = false;
    for (index, line) in lines.iter().enumerate() {
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                ';' if !opened && depth == 0 => return None,
                _ => {}
            }
        }
        if opened && depth == 0 {
            return Some(index + 1);
        }
    }
    None
}
