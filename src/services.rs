//! The built-in knowledge of self-hosted services (`assets/services.toml`, written by us): names,
//! spellings and nicknames, what each is for, common images and ports. It lets a request name a
//! service the way people do ("jellyfn", "the ad blocker", `lscr.io/linuxserver/bookstack`) and
//! tells an app a repository lacks from one it has under another name.
//!
//! Loaded once on first use; every lookup is a hash probe or a short scan (well under 1 ms).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::text::{edit_distance, normalize};

const DATA: &str = include_str!("../assets/services.toml");

/// One service of the catalogue.
#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub categories: Vec<String>,
    pub purpose: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Services this one stands in for: another server for the same clients, or a fork kept
    /// compatible (Vaultwarden for Bitwarden, Forgejo for Gitea).
    #[serde(default)]
    pub compatible_with: Vec<String>,
    /// Runs beside another app as its helper (an admin page, a bot shield, an exporter, a
    /// backup sidecar), so it does not make that app's compose project a shared one.
    #[serde(default)]
    pub companion: bool,
}

#[derive(Deserialize)]
struct File {
    service: Vec<Service>,
}

/// The catalogue with its indexes.
#[derive(Debug)]
pub struct Catalogue {
    services: Vec<Service>,
    /// Normalized id, name and aliases → index.
    by_name: HashMap<String, usize>,
    /// Image without registry-of-Docker-Hub, tag or digest → index; also its last path part.
    by_image: HashMap<String, usize>,
    /// Every normalized name, for typo search: (name, index).
    names: Vec<(String, usize)>,
    /// Per service: its keyword phrases and category names as stemmed words.
    phrases: Vec<Vec<Vec<String>>>,
    /// Inverse document frequency of each stemmed word over those phrases.
    idf: HashMap<String, f64>,
    /// Per service: the stemmed words of its purpose sentence.
    purposes: Vec<BTreeSet<String>>,
    /// Stemmed phrase word → the services with a phrase holding it (ascending): only those
    /// can fit a request, so only those are scored.
    by_phrase_word: HashMap<String, Vec<usize>>,
}

/// The catalogue, parsed on first use.
pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| Catalogue::parse(DATA).expect("assets/services.toml is valid"))
}

impl Catalogue {
    /// Reads a catalogue from TOML text (the embedded one in practice; tests pass their own).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: File = toml::from_str(text)?;
        let mut by_name = HashMap::new();
        let mut by_image = HashMap::new();
        let mut names = Vec::new();
        for (index, service) in file.service.iter().enumerate() {
            let spellings = [service.id.as_str(), service.name.as_str()]
                .into_iter()
                .chain(service.aliases.iter().map(String::as_str));
            for spelling in spellings {
                let key = normalize(spelling);
                if key.len() < 2 {
                    continue;
                }
                by_name.entry(key.clone()).or_insert(index);
                names.push((key, index));
            }
            for image in &service.images {
                let key = image_key(image);
                by_image.entry(key.clone()).or_insert(index);
                if let Some(last) = key.rsplit('/').next()
                    && !GENERIC_IMAGE_PARTS.contains(&last)
                {
                    by_image.entry(last.to_owned()).or_insert(index);
                }
            }
        }
        names.sort();
        names.dedup();
        let phrases: Vec<Vec<Vec<String>>> = file
            .service
            .iter()
            .map(|service| {
                service
                    .keywords
                    .iter()
                    .map(|k| k.as_str())
                    .chain(service.categories.iter().map(|c| c.as_str()))
                    .map(|phrase| {
                        words(phrase)
                            .map(|w| stem(&w))
                            .filter(|w| {
                                !STOP.contains(&w.as_str()) && !REQUEST_WORDS.contains(&w.as_str())
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect()
            })
            .collect();
        let mut frequency: HashMap<String, usize> = HashMap::new();
        let mut by_phrase_word: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, service) in phrases.iter().enumerate() {
            let distinct: std::collections::BTreeSet<&String> = service.iter().flatten().collect();
            for word in distinct {
                *frequency.entry(word.clone()).or_default() += 1;
                by_phrase_word.entry(word.clone()).or_default().push(index);
            }
        }
        let total = file.service.len() as f64;
        let idf = frequency
            .into_iter()
            .map(|(word, n)| (word, (total / n as f64).ln().max(0.1)))
            .collect();
        let purposes = file
            .service
            .iter()
            .map(|service| {
                words(&service.purpose)
                    .map(|w| stem(&w))
                    .filter(|w| {
                        w.len() > 2
                            && !STOP.contains(&w.as_str())
                            && !REQUEST_WORDS.contains(&w.as_str())
                    })
                    .collect()
            })
            .collect();
        Ok(Catalogue {
            purposes,
            by_phrase_word,
            services: file.service,
            by_name,
            by_image,
            names,
            phrases,
            idf,
        })
    }

    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    pub fn all(&self) -> &[Service] {
        &self.services
    }

    /// The service with this id.
    pub fn get(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    /// By id, name or alias, compared in normal form (`Uptime-Kuma` = `uptime_kuma`).
    pub fn lookup(&self, name: &str) -> Option<&Service> {
        self.by_name
            .get(&normalize(name))
            .map(|&i| &self.services[i])
    }

    /// By a close typo of an id, name or alias: one edit for names of 5–7 letters, two from 8
    /// on (shorter names are too easily another word). Returns the distance too.
    /// Whether the catalogue uses `word` to say what services are for ("reader", "camera").
    pub fn is_purpose_word(&self, word: &str) -> bool {
        self.idf.contains_key(&stem(word))
    }

    pub fn lookup_typo(&self, name: &str) -> Option<(&Service, usize)> {
        let key = normalize(name);
        if let Some(service) = self.lookup(&key) {
            return Some((service, 0));
        }
        let allowed = typo_allowance(key.len());
        // A word the catalogue uses to say what services are for ("reader" of "rss reader")
        // is that word, not a misspelt name ("readarr").
        // Nor is an ordinary word ("allow" for Alloy).
        if allowed == 0 || self.is_purpose_word(&key) || crate::text::is_ordinary_word(&key) {
            return None;
        }
        let mut best: Option<(usize, usize)> = None;
        for (candidate, index) in &self.names {
            if candidate.len().abs_diff(key.len()) > allowed
                || candidate.len() < 4
                || candidate.as_bytes()[0] != key.as_bytes()[0]
            {
                continue;
            }
            let distance = edit_distance(&key, candidate);
            if distance <= allowed && best.is_none_or(|(d, _)| distance < d) {
                best = Some((distance, *index));
            }
        }
        best.map(|(d, i)| (&self.services[i], d))
    }

    /// By container image: `lscr.io/linuxserver/bookstack:latest` → BookStack. The image's
    /// last path part alone also counts (`ghcr.io/someone/vaultwarden`).
    pub fn by_image(&self, image: &str) -> Option<&Service> {
        let key = image_key(image);
        if key.is_empty() {
            return None;
        }
        if let Some(&i) = self.by_image.get(&key) {
            return Some(&self.services[i]);
        }
        let last = key.rsplit('/').next().unwrap_or(&key);
        let generic = GENERIC_IMAGE_PARTS.contains(&last);
        (!generic)
            .then(|| {
                self.by_image
                    .get(last)
                    .or_else(|| self.by_name.get(&normalize(last)))
            })
            .flatten()
            // The project's own namespace (`vikunja/api`, `vikunja/frontend`), never a
            // registry host or a publisher of many images; only for an image whose own name
            // says nothing else (`prom/graphite-exporter` is no Prometheus).
            .or_else(|| {
                key.split('/')
                    .rev()
                    .skip(1)
                    .filter(|part| !part.contains('.') && !PUBLISHERS.contains(part))
                    .filter(|part| generic || last.contains(*part))
                    .find_map(|part| self.by_name.get(&normalize(part)))
            })
            .map(|&i| &self.services[i])
    }

    /// Services whose purpose a request describes ("keep our passwords", "request movies"),
    /// best first, with a score: a keyword phrase all of whose words appear counts most, a
    /// category's words next, purpose words least.
    pub fn for_purpose(&self, text: &str) -> Vec<(&Service, f64)> {
        self.for_purpose_keeping(text, &[])
    }

    /// `for_purpose`, keeping some words that usually say what to do as words that say what a
    /// service is: "stop the web ui that tails the container logs" describes a log viewer.
    pub fn for_purpose_keeping(&self, text: &str, keep: &[&str]) -> Vec<(&Service, f64)> {
        let request: BTreeSet<String> = words(text)
            .map(|w| stem(&w))
            .filter(|w| {
                !STOP.contains(&w.as_str())
                    && (!REQUEST_WORDS.contains(&w.as_str()) || keep.contains(&w.as_str()))
            })
            .collect();
        if request.is_empty() {
            return Vec::new();
        }
        let candidates: BTreeSet<usize> = request
            .iter()
            .filter_map(|w| self.by_phrase_word.get(w))
            .flatten()
            .copied()
            .collect();
        let mut scored = Vec::new();
        for index in candidates {
            let service = &self.services[index];
            let score = self.purpose_score(index, service, &request);
            if score > 0.0 {
                scored.push((service, score));
            }
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.id.cmp(&b.0.id)));
        scored
    }

    /// How well one service fits the request's words: each word counts once, by its rarity
    /// times how it is met — in a phrase all of whose words appear (1), in a category of which
    /// half the words appear (0.75: categories say what a service *is*), in a keyword phrase of
    /// which half appear (0.5), only in the purpose sentence (0.4, and only for a service some
    /// phrase already fits). So "photo backup" fits a photo-backup server over a snapshot tool,
    /// and "the vpn the torrents go through" a VPN for containers over a mesh VPN.
    fn purpose_score(&self, index: usize, service: &Service, request: &BTreeSet<String>) -> f64 {
        let idf = |w: &str| self.idf.get(w).copied().unwrap_or(1.0);
        let keywords = service.keywords.len();
        let mut weight: BTreeMap<&str, f64> = BTreeMap::new();
        for (i, phrase) in self.phrases[index].iter().enumerate() {
            if phrase.is_empty() {
                continue;
            }
            let matched: Vec<&String> = phrase.iter().filter(|w| request.contains(*w)).collect();
            let how = if matched.len() == phrase.len() {
                1.0
            } else if matched.len() * 2 >= phrase.len() && phrase.len() >= 2 {
                if i >= keywords { 0.75 } else { 0.5 }
            } else {
                continue;
            };
            for word in matched {
                let slot = weight.entry(word.as_str()).or_default();
                *slot = f64::max(*slot, how);
            }
        }
        if weight.is_empty() {
            return 0.0;
        }
        for word in &self.purposes[index] {
            if request.contains(word) {
                weight.entry(word.as_str()).or_insert(0.4);
            }
        }
        weight.iter().map(|(w, how)| idf(w) * how).sum()
    }

    /// Whether the catalogue uses `word` to say what services are or do (`backup`, `request`):
    /// an ordinary word, not a name.
    pub fn knows_word(&self, word: &str) -> bool {
        self.idf.contains_key(&stem(word))
    }

    /// Whether a word names a kind of service (`dns`, `vpn`, `media`, `proxy`): a word of a
    /// category. A host or group spelled so is a target only when the request places it
    /// ("on dns"); "the upstream dns resolvers" says what is meant, not where.
    pub fn is_category_word(&self, word: &str) -> bool {
        let word = stem(word);
        self.services
            .iter()
            .flat_map(|s| &s.categories)
            .any(|c| c.split('-').any(|part| stem(part) == word))
    }

    /// The services that share a category with `id` (alternatives to offer).
    pub fn alternatives(&self, id: &str) -> Vec<&Service> {
        let Some(service) = self.get(id) else {
            return Vec::new();
        };
        let Some(first) = service.categories.first() else {
            return Vec::new();
        };
        self.services
            .iter()
            .filter(|s| s.id != id && s.categories.first() == Some(first))
            .collect()
    }

    /// Bytes the catalogue holds (its strings and indexes), for the benchmark.
    pub fn memory_bytes(&self) -> usize {
        let strings: usize = self
            .services
            .iter()
            .map(|s| {
                s.id.len()
                    + s.name.len()
                    + s.purpose.len()
                    + s.aliases
                        .iter()
                        .chain(&s.keywords)
                        .chain(&s.images)
                        .chain(&s.categories)
                        .map(|x| x.len() + 24)
                        .sum::<usize>()
                    + s.ports.len() * 2
                    + std::mem::size_of::<Service>()
            })
            .sum();
        let purposes: usize = self.purposes.iter().flatten().map(|w| w.len() + 24).sum();
        let strings = strings + purposes;
        let indexes: usize = self.by_name.keys().map(|k| k.len() + 48).sum::<usize>()
            + self.by_image.keys().map(|k| k.len() + 48).sum::<usize>()
            + self.names.iter().map(|(k, _)| k.len() + 32).sum::<usize>()
            + self
                .by_phrase_word
                .iter()
                .map(|(k, v)| k.len() + 48 + v.len() * 8)
                .sum::<usize>();
        strings + indexes
    }
}

/// Edits a name of this many letters may carry and still be the same name.
pub fn typo_allowance(len: usize) -> usize {
    match len {
        0..=4 => 0,
        5..=7 => 1,
        _ => 2,
    }
}

/// An image reference without tag, digest and the Docker Hub prefixes, lowercase.
pub fn image_key(image: &str) -> String {
    let image = image.trim().trim_matches(['"', '\'']).to_lowercase();
    let image = image.split('@').next().unwrap_or("");
    // A tag follows the last ':' after the last '/' (a registry may have a port).
    let (name, _) = match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => (&image[..i], &image[i + 1..]),
        _ => (image, ""),
    };
    let name = name
        .trim_start_matches("docker.io/")
        .trim_start_matches("index.docker.io/")
        .trim_start_matches("library/");
    name.to_owned()
}

/// Lowercase words of letters and digits.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// A crude English stem: plural and a few endings, so "passwords" meets "password".
pub fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    // "logging" → "log", "streaming" → "stream": the thing, not the doing of it.
    if w.len() > 6
        && let Some(base) = w.strip_suffix("ing")
    {
        let bytes = base.as_bytes();
        let doubled = bytes.len() > 3
            && bytes[bytes.len() - 1] == bytes[bytes.len() - 2]
            && matches!(
                bytes[bytes.len() - 1],
                b'g' | b'n' | b't' | b'p' | b'm' | b'd' | b'b'
            );
        return if doubled {
            base[..base.len() - 1].to_owned()
        } else {
            base.to_owned()
        };
    }
    for (suffix, replace) in [("sses", "ss"), ("s", "")] {
        if w.len() > 4
            && let Some(base) = w.strip_suffix(suffix)
            && !base.ends_with('s')
        {
            return format!("{base}{replace}");
        }
    }
    w
}

/// Words of a request that say what to do or point at something, not what it is for.
/// Last parts of image names that many projects use for one of their pieces
/// (`funkwhale/api`, `vikunja/api`): they say nothing about which project.
const GENERIC_IMAGE_PARTS: &[&str] = &[
    "api",
    "frontend",
    "backend",
    "server",
    "web",
    "app",
    "worker",
    "ui",
    "core",
    "db",
    "proxy",
    "client",
    "agent",
    "all-in-one",
    "controller",
    "operator",
    "exporter",
];

/// Image namespaces that publish many projects' images: never a service by themselves.
const PUBLISHERS: &[&str] = &[
    "linuxserver",
    "bitnami",
    "hotio",
    "binhex",
    "jlesage",
    "crazymax",
    "library",
    "selfhosted",
    "kasmweb",
    "mbentley",
];

const REQUEST_WORDS: &[&str] = &[
    "show",
    "me",
    "log",
    "logs",
    "restart",
    "stop",
    "start",
    "deploy",
    "install",
    "set",
    "up",
    "is",
    "it",
    "app",
    "thing",
    "service",
    "container",
    "running",
    "again",
    "bit",
    "while",
    "please",
    "update",
    "upgrade",
    "new",
    "release",
    "newest",
    "remove",
    "get",
    "rid",
    "change",
    "edit",
    "people",
    "use",
    "we",
    "i",
    "that",
    "this",
    "some",
    "something",
    "so",
    "can",
    "want",
    "back",
    "turn",
    "off",
    "on",
    "everywhere",
    "all",
    "every",
    "go",
    "through",
    "site",
    "tool",
    "program",
    "healthy",
    "status",
    "bring",
    "redeploy",
];

/// Words that carry no meaning of their own in a keyword phrase.
const STOP: &[&str] = &[
    "a", "an", "the", "for", "of", "to", "and", "or", "in", "on", "with", "your", "my", "our",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_loads_and_knows_names_nicknames_and_typos() {
        let c = catalogue();
        assert!(c.len() >= 300);
        assert_eq!(c.lookup("Pi-hole").map(|s| s.id.as_str()), Some("pihole"));
        assert_eq!(
            c.lookup("adguard").map(|s| s.id.as_str()),
            Some("adguard-home")
        );
        assert_eq!(
            c.lookup_typo("jellyfn").map(|(s, d)| (s.id.as_str(), d)),
            Some(("jellyfin", 1))
        );
        assert!(c.lookup_typo("plx").is_none());
        // An ordinary word near a name is that word: "allow" is no slip of Alloy, which a
        // real slip still finds.
        assert!(c.lookup_typo("allow").is_none());
        assert_eq!(
            c.lookup_typo("allloy").map(|(s, _)| s.id.as_str()),
            Some("alloy")
        );
    }

    #[test]
    fn an_images_namespace_names_it_only_when_its_own_name_says_nothing_else() {
        let c = catalogue();
        let id = |image: &str| c.by_image(image).map(|s| s.id.as_str());
        assert_eq!(id("prom/prometheus:v2.53.0"), Some("prometheus"));
        assert_eq!(id("vikunja/api:0.22"), Some("vikunja"));
        // An exporter the publisher `prom` ships is not Prometheus itself.
        assert_ne!(id("prom/graphite-exporter:v0.15.0"), Some("prometheus"));
    }

    #[test]
    fn an_image_names_its_service() {
        let c = catalogue();
        let id = |i: &str| c.by_image(i).map(|s| s.id.clone());
        assert_eq!(
            id("lscr.io/linuxserver/bookstack:latest").as_deref(),
            Some("bookstack")
        );
        assert_eq!(id("pihole/pihole:2024.07.0").as_deref(), Some("pihole"));
        assert_eq!(
            image_key("registry:5000/team/app:1.2"),
            "registry:5000/team/app"
        );
    }

    #[test]
    fn a_purpose_finds_the_kind_of_service() {
        let c = catalogue();
        let found: Vec<&str> = c
            .for_purpose("something to keep our passwords")
            .iter()
            .take(8)
            .map(|(s, _)| s.id.as_str())
            .collect();
        assert!(found.contains(&"vaultwarden"), "{found:?}");
        let ad: Vec<&str> = c
            .for_purpose("turn off the ad blocker")
            .iter()
            .map(|(s, _)| s.id.as_str())
            .collect();
        assert!(
            ad.contains(&"pihole") && ad.contains(&"adguard-home"),
            "{ad:?}"
        );
    }
}
