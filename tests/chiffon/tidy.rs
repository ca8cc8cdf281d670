//! Keeps the documentation honest: every source file says what it is for, and ARCHITECTURE.md's
//! code map names exactly the files and folders that exist.

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
