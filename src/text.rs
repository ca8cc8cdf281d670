//! Text helpers the planner and the matcher share: edit distance, the normal form names are
//! compared in, and the version a request names.

/// Edit distance between two strings, by characters, with a swap of two neighbouring letters
/// counted as one slip ("vikunaj", "upgarde"): the optimal string alignment distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    // Names and request words are short ASCII: compare bytes in rows on the stack.
    const SHORT: usize = 48;
    if a.is_ascii() && b.is_ascii() && b.len() < SHORT {
        let mut rows = [[0usize; SHORT]; 3];
        return alignment(a.as_bytes(), b.as_bytes(), &mut rows);
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let row = vec![0usize; b.len() + 1];
    let mut rows = [row.clone(), row.clone(), row];
    alignment(&a, &b, &mut rows)
}

/// The distance of [`edit_distance`] over any letters, in three rows of at least `b.len() + 1`
/// cells: the one two letters back (for swaps), the last one and the current one.
fn alignment<T: PartialEq, R: AsMut<[usize]>>(a: &[T], b: &[T], rows: &mut [R; 3]) -> usize {
    let [before, last, row] = rows;
    let (mut before, mut last, mut row) = (before.as_mut(), last.as_mut(), row.as_mut());
    for (j, cell) in last.iter_mut().enumerate().take(b.len() + 1) {
        *cell = j;
    }
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            row[j] = best;
        }
        std::mem::swap(&mut before, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    last[b.len()]
}

/// Lowercase ASCII letters and digits only: `Uptime-Kuma` and `uptime_kuma` compare equal.
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A role or playbook name without the doing-word it starts with (`setup_mergerfs`,
/// `install-docker`, `ansible-role-motd`): the thing it is for.
pub fn without_doing_prefix(name: &str) -> &str {
    [
        "setup",
        "install",
        "deploy",
        "configure",
        "config",
        "ansible-role",
        "role",
    ]
    .iter()
    .find_map(|prefix| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix(['_', '-']))
    })
    .unwrap_or(name)
}

/// Whether `word` is an ordinary English word people type around service names
/// (`assets/ordinary_words.txt`): never read as a slip or a shortening of a name.
pub fn is_ordinary_word(word: &str) -> bool {
    static WORDS: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    WORDS
        .get_or_init(|| {
            include_str!("../assets/ordinary_words.txt")
                .lines()
                .filter(|line| !line.starts_with('#'))
                .flat_map(str::split_whitespace)
                .collect()
        })
        .contains(word)
}

/// The version a request names: "… to 10.9.2", "… to version v2024.07.0", "… -> 2025.1".
/// A word that starts with a digit (or `v` and a digit) after "to", "version" or an arrow.
pub fn version_asked(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let version = |word: &str| -> Option<String> {
        let word = word.trim_end_matches(['.', ',', '!', '?', ';', ')', '"', '\'']);
        let word = word.trim_start_matches(['"', '\'', '(']);
        let digits = word
            .strip_prefix(['v', 'V'])
            .unwrap_or(word)
            .chars()
            .next()?;
        let ok = digits.is_ascii_digit()
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
        ok.then(|| word.to_owned())
    };
    // The last one said wins: a change in words restates the version ("… to 1.2. make it 1.3").
    let mut found = None;
    for (i, word) in words.iter().enumerate() {
        let lower = word.to_lowercase();
        if !matches!(lower.as_str(), "to" | "version" | "->" | "→" | "@") {
            continue;
        }
        let mut next = words.get(i + 1).copied();
        if next.is_some_and(|n| n.eq_ignore_ascii_case("version")) {
            next = words.get(i + 2).copied();
        }
        if let Some(version) = next.and_then(version) {
            found = Some(version);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_is_one_slip_and_long_or_unicode_words_are_measured_too() {
        assert_eq!(edit_distance("vikunaj", "vikunja"), 1);
        assert_eq!(edit_distance("jellyfn", "jellyfin"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("café", "cafe"), 1);
        let long = "a".repeat(60);
        assert_eq!(edit_distance(&long, &format!("{long}b")), 1);
    }
}
