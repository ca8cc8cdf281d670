//! New playbook templates: `chiffon playbooks template <service> --image NAME:TAG --port N`
//! writes a deployment playbook and a role that renders a compose file (pinned image,
//! `restart: unless-stopped`, a healthcheck) and starts it with `docker compose` when a
//! container runtime answers, idempotently (a second run reports no change). Only
//! `ansible.builtin` modules, so it runs on plain ansible-core.
//!
//! Invariant: never overwrites a file and never writes outside the repository; every value a
//! person supplied is checked against a strict grammar, reaches the YAML only through the
//! serializer, and is tagged `!unsafe` so Ansible never templates it.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_saphyr::Tagged;

/// What to generate.
#[derive(Debug, Clone)]
pub struct TemplateSpec {
    /// `[a-z][a-z0-9-]{0,62}`: the role is named with `_` for `-`.
    pub service: String,
    /// An image reference (`[registry[:port]/]path[:tag][@digest]`), pinned by a tag other
    /// than `latest` or by a digest.
    pub image: String,
    /// The port the service listens on inside its container, published on the host (1–65535).
    pub port: u16,
    /// Inventory group or host pattern the playbook targets.
    pub hosts: String,
}

/// Checks the spec; the error says what to change.
pub fn validate(spec: &TemplateSpec) -> anyhow::Result<()> {
    if !valid_service(&spec.service) {
        anyhow::bail!(
            "service name {:?}: use 1–63 lowercase letters, digits and '-', starting with a letter",
            spec.service
        );
    }
    validate_image(&spec.image)?;
    if spec.port == 0 {
        anyhow::bail!("port 0 is not a port: give the port the service listens on (1–65535)");
    }
    let hosts_ok = !spec.hosts.is_empty()
        && spec.hosts.len() <= 200
        && spec
            .hosts
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:&!*,".contains(c));
    if !hosts_ok {
        anyhow::bail!(
            "hosts {:?}: use an inventory group or host pattern (letters, digits and _ - . : & ! * ,)",
            spec.hosts
        );
    }
    Ok(())
}

/// `[a-z][a-z0-9-]{0,62}`: a DNS label that also makes a valid Ansible variable prefix once
/// `-` becomes `_` (hence the leading letter).
pub fn valid_service(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The image reference grammar of the OCI distribution spec (docker's `reference` package):
/// `[domain[:port]/]component(/component)*[:tag][@algorithm:hex]`, where a component is
/// lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`, a tag is
/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, and the digest's hex is at least 32 digits. Nothing
/// outside that grammar (quotes, braces, backslashes, spaces) can reach a file.
fn validate_image(image: &str) -> anyhow::Result<()> {
    let bad = || {
        anyhow::anyhow!(
            "image {image:?} is not an image reference: use [registry[:port]/]name[:tag][@sha256:digest] with lowercase names, e.g. ghcr.io/acme/app:1.2.3"
        )
    };
    if image.len() > 512 || !image.is_ascii() {
        return Err(bad());
    }
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        let (algorithm, hex) = digest.split_once(':').ok_or_else(bad)?;
        let algorithm_ok = algorithm.split(['+', '.', '_', '-']).all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && part.chars().all(|c| c.is_ascii_alphanumeric())
        });
        if !algorithm_ok || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
    }
    // A `:` after the last `/` starts the tag; one before it is a registry's port.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let tag_ok = tag.len() <= 128
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !tag_ok {
            return Err(bad());
        }
    }
    if name.len() > 255 {
        return Err(bad());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts[0];
    let has_domain = parts.len() > 1
        && (first.contains(['.', ':'])
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    if has_domain {
        if !valid_domain(first) {
            return Err(bad());
        }
        parts.remove(0);
    }
    if parts.is_empty() || !parts.iter().all(|part| valid_path_component(part)) {
        return Err(bad());
    }
    let pinned = digest.is_some() || tag.is_some_and(|tag| tag != "latest");
    if !pinned {
        anyhow::bail!(
            "image {image:?} is not pinned: give a version tag (e.g. {name}:1.2.3) so a re-deploy cannot silently upgrade it"
        );
    }
    Ok(())
}

/// `host[:port]`: dot-separated labels of letters, digits and inner `-`, then digits.
fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    port_ok
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &part[start..i];
        if !(separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|b| b == b'-'))
        {
            return false;
        }
    }
    true
}

/// Writes the template into `repo`; returns the files written, relative to `repo`. Every file
/// is created new (never overwritten) in a directory that is really inside the repository: a
/// symbolic link anywhere on the way, or a path that resolves elsewhere, is refused before
/// anything is written.
pub fn write(repo: &Path, spec: &TemplateSpec) -> anyhow::Result<Vec<String>> {
    validate(spec)?;
    let root = repo
        .canonicalize()
        .with_context(|| format!("cannot open the repository {}", repo.display()))?;
    let files = render(spec)?;
    for (path, _) in &files {
        check_destination(&root, path)?;
    }
    for (path, text) in &files {
        let full = create_parents(&root, path)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&full)
            .with_context(|| format!("cannot create {}", full.display()))?;
        file.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", full.display()))?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// The relative path's components, refusing anything but plain names (no `..`, no root).
fn plain_components(path: &str) -> anyhow::Result<Vec<&str>> {
    Path::new(path)
        .components()
        .map(|component| match component {
            Component::Normal(name) => name.to_str().context("a template path is not UTF-8"),
            _ => anyhow::bail!("{path:?} is not a plain relative path inside the repository"),
        })
        .collect()
}

/// Refuses `path` (relative to the canonical `root`) when a directory on its way is a symbolic
/// link or not a directory, or when the file already exists (even as a dangling link).
fn check_destination(root: &Path, path: &str) -> anyhow::Result<()> {
    let components = plain_components(path)?;
    let mut at = root.to_path_buf();
    for (i, name) in components.iter().enumerate() {
        at.push(name);
        let last = i + 1 == components.len();
        match std::fs::symlink_metadata(&at) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot inspect {}", at.display()));
            }
            Ok(_) if last => anyhow::bail!(
                "{} already exists; nothing was written (remove it or pick another service name)",
                at.display()
            ),
            Ok(meta) if meta.file_type().is_symlink() => anyhow::bail!(
                "{} is a symbolic link; templates are written only into real directories inside the repository, so nothing was written",
                at.display()
            ),
            Ok(meta) if !meta.is_dir() => {
                anyhow::bail!("{} is not a directory; nothing was written", at.display())
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Creates the directories of `path` one at a time (never following a link), checks that the
/// parent resolves inside `root`, and returns the file's full path.
fn create_parents(root: &Path, path: &str) -> anyhow::Result<PathBuf> {
    let components = plain_components(path)?;
    let Some((file, dirs)) = components.split_last() else {
        anyhow::bail!("an empty template path");
    };
    let mut at = root.to_path_buf();
    for name in dirs {
        at.push(name);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => anyhow::bail!(
                "{} is not a real directory inside the repository; stopped writing",
                at.display()
            ),
            Err(_) => std::fs::create_dir(&at)
                .with_context(|| format!("cannot create {}", at.display()))?,
        }
    }
    let parent = at
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", at.display()))?;
    if !parent.starts_with(root) {
        anyhow::bail!(
            "{} resolves outside the repository; stopped writing",
            at.display()
        );
    }
    Ok(parent.join(file))
}

/// A YAML value of a generated file: a person's value (tagged `!unsafe`, so Ansible uses it
/// as it is and never renders `{{ … }}` in it), or one of Chiffon's own.
enum Value {
    Unsafe(String),
    /// Chiffon's own text, which may be a Jinja expression meant to be rendered.
    Own(String),
    Int(u16),
    Bool(bool),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Unsafe(text) => {
                Tagged(text.as_str(), Some("!unsafe".to_owned())).serialize(serializer)
            }
            Value::Own(text) => serializer.serialize_str(text),
            Value::Int(number) => serializer.serialize_u16(*number),
            Value::Bool(flag) => serializer.serialize_bool(*flag),
        }
    }
}

/// One `key: value` line through the YAML serializer.
struct Entry<'a>(&'a str, &'a Value);

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

/// YAML as ansible-lint's yamllint rules want it: list items indented under their key.
fn to_yaml<T: Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.compact_list_indent = false;
    serde_saphyr::to_string_with_options(value, options)
}

/// A YAML document of commented `key: value` lines, each value serialized.
fn commented_document(entries: &[(&str, String, Value)]) -> anyhow::Result<String> {
    let mut text = String::from("---\n");
    for (comment, key, value) in entries {
        text.push_str(&format!("# {comment}\n"));
        text.push_str(
            &to_yaml(&Entry(key, value)).with_context(|| format!("cannot serialize {key}"))?,
        );
    }
    Ok(text)
}

/// The play: a one-element list serialized whole (`hosts` is a person's value).
#[derive(serde::Serialize)]
struct Play {
    name: String,
    hosts: Value,
    gather_facts: bool,
    roles: Vec<RoleRef>,
}

#[derive(serde::Serialize)]
struct RoleRef {
    role: String,
}

/// The files of a template, by path relative to the repository. The playbook and the role's
/// defaults, where a person's values go, are written by the YAML serializer.
pub fn render(spec: &TemplateSpec) -> anyhow::Result<Vec<(String, String)>> {
    validate(spec)?;
    let service = &spec.service;
    let role = service.replace('-', "_");
    let title = service
        .split('-')
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let port = spec.port;
    let play = vec![Play {
        name: format!("Deploy {title}"),
        hosts: Value::Unsafe(spec.hosts.clone()),
        gather_facts: false,
        roles: vec![RoleRef { role: role.clone() }],
    }];
    let playbook = format!(
        "---\n\
# Deploy {title} with docker compose. Generated by `chiffon playbooks template {service}`;\n\
# settings are in roles/{role}/defaults/main.yml.\n{}",
        to_yaml(&play).context("cannot serialize the playbook")?
    );
    let defaults = commented_document(&[
        (
            "The image, pinned: change the tag to upgrade, never use `latest`.",
            format!("{role}_image"),
            Value::Unsafe(spec.image.clone()),
        ),
        (
            "Where the stack lives on the host.",
            format!("{role}_dir"),
            Value::Own(format!(
                "{{{{ homelab_root | default('/srv/homelab') }}}}/{{{{ inventory_hostname }}}}/stacks/{service}"
            )),
        ),
        (
            &format!("The port {title} listens on inside the container, published on the host."),
            format!("{role}_port"),
            Value::Int(port),
        ),
        (
            &format!("How Docker checks that {title} answers (run inside the container)."),
            format!("{role}_healthcheck"),
            Value::Unsafe(format!(
                "wget -q --spider http://localhost:{port}/ || exit 1"
            )),
        ),
        (
            "Run `docker compose up` when a container runtime answers; false only renders files.",
            format!("{role}_start"),
            Value::Bool(true),
        ),
        (
            "The container runtime's command.",
            format!("{role}_docker"),
            Value::Own("docker".to_owned()),
        ),
    ])?;
    let tasks = format!(
        "---\n\
- name: Create the {title} directory\n  ansible.builtin.file:\n    path: \"{{{{ {role}_dir }}}}\"\n    state: directory\n    mode: \"0755\"\n\n\
- name: Render the {title} compose file\n  ansible.builtin.template:\n    src: compose.yml.j2\n    dest: \"{{{{ {role}_dir }}}}/compose.yml\"\n    mode: \"0644\"\n  notify: Restart {title}\n\n\
- name: Check whether a container runtime answers\n  ansible.builtin.command:\n    argv: [\"{{{{ {role}_docker }}}}\", info, --format, \"{{{{ '{{{{' }}}} .ServerVersion {{{{ '}}}}' }}}}\"]\n  register: {role}_docker_info\n  changed_when: false\n  failed_when: false\n  when: {role}_start | bool\n\n\
- name: Start {title}\n  ansible.builtin.command:\n    argv: [\"{{{{ {role}_docker }}}}\", compose, up, --detach, --remove-orphans]\n    chdir: \"{{{{ {role}_dir }}}}\"\n  register: {role}_up\n  # compose reports each container's state on stderr; \"Running\" means untouched.\n  changed_when: {role}_up.stderr is search('(Created|Started|Recreated)')\n  when:\n    - {role}_start | bool\n    - {role}_docker_info.rc | default(1) == 0\n"
    );
    let handlers = format!(
        "---\n\
- name: Restart {title}\n  ansible.builtin.command:\n    argv: [\"{{{{ {role}_docker }}}}\", compose, up, --detach, --force-recreate]\n    chdir: \"{{{{ {role}_dir }}}}\"\n  changed_when: true\n  when:\n    - {role}_start | bool\n    - {role}_docker_info.rc | default(1) == 0\n"
    );
    let meta = format!(
        "---\n\
galaxy_info:\n  role_name: {role}\n  namespace: homelab\n  author: homelab\n  description: Deploy {title} with docker compose\n  license: MIT\n  min_ansible_version: \"2.16\"\n  galaxy_tags:\n    - docker\n    - homelab\ndependencies: []\n"
    );
    let compose = format!(
        "# {title}, rendered by the {role} role. Edit roles/{role}/defaults/main.yml, not this file.\n\
services:\n  {service}:\n    image: \"{{{{ {role}_image }}}}\"\n    container_name: {service}\n    restart: unless-stopped\n    ports:\n      - \"{{{{ {role}_port }}}}:{{{{ {role}_port }}}}\"\n    healthcheck:\n      test: [\"CMD-SHELL\", \"{{{{ {role}_healthcheck }}}}\"]\n      interval: 30s\n      timeout: 5s\n      retries: 3\n"
    );
    Ok(vec![
        (format!("{service}-deployment.yml"), playbook),
        (format!("roles/{role}/defaults/main.yml"), defaults),
        (format!("roles/{role}/tasks/main.yml"), tasks),
        (format!("roles/{role}/handlers/main.yml"), handlers),
        (format!("roles/{role}/meta/main.yml"), meta),
        (format!("roles/{role}/templates/compose.yml.j2"), compose),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(service: &str, image: &str) -> TemplateSpec {
        TemplateSpec {
            service: service.into(),
            image: image.into(),
            port: 8080,
            hosts: "docker_hosts".into(),
        }
    }

    #[test]
    fn bad_specs_are_refused_with_the_fix() {
        let error = validate(&spec("Gitea", "gitea/gitea:1.22"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("lowercase"), "{error}");
        let error = validate(&spec("gitea", "gitea/gitea:latest"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("gitea/gitea:1.2.3"), "{error}");
        assert!(validate(&spec("gitea", "gitea/gitea")).is_err());
        assert!(
            validate(&spec("gitea", "registry:5000/gitea")).is_err(),
            "a registry port is not a tag"
        );
        assert!(validate(&spec("gitea", "registry:5000/gitea:1.22")).is_ok());
        assert!(
            validate(&spec(
                "gitea",
                "gitea/gitea@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ))
            .is_ok()
        );
        assert!(
            validate(&spec("gitea", "gitea/gitea@sha256:abc")).is_err(),
            "a digest is at least 32 hex digits"
        );
    }

    #[test]
    fn image_references_follow_the_oci_grammar() {
        for good in [
            "nginx:1.27",
            "library/nginx:1.27-alpine",
            "ghcr.io/acme/my_app__x.y:v2",
            "localhost:5000/a-b--c:1",
            "registry.home.arpa:5000/team/app:2024.01.02",
        ] {
            assert!(validate(&spec("x", good)).is_ok(), "{good}");
        }
        for bad in [
            r"acme/box:\u007b\u007b lookup('pipe', 'id') \u007d\u007d",
            "acme/box:{{ lookup('pipe','id') }}",
            "acme/box:1.0 \"",
            "acme/Box:1.0",
            "acme//box:1.0",
            "acme/box:.1",
            "acme/-box:1.0",
            "acme/box:1.0\n",
            "reg:port/box:1",
            "acme/box:1.0@",
            "acme/box:1'0",
        ] {
            assert!(validate(&spec("x", bad)).is_err(), "{bad:?}");
        }
        assert!(validate(&spec("9lives", "a:1")).is_err());
        assert!(validate(&spec(&"a".repeat(64), "a:1")).is_err());
        assert!(validate(&spec(&"a".repeat(63), "a:1")).is_ok());
    }

    #[test]
    fn values_are_serialized_and_tagged_unsafe() {
        let files = render(&spec("home-box", "acme/box:2.0")).unwrap();
        let defaults = &files
            .iter()
            .find(|(path, _)| path.ends_with("defaults/main.yml"))
            .unwrap()
            .1;
        assert!(
            defaults.contains("home_box_image: !unsafe acme/box:2.0"),
            "{defaults}"
        );
        assert!(defaults.contains("home_box_port: 8080"), "{defaults}");
        assert!(
            defaults.contains("home_box_healthcheck: !unsafe"),
            "{defaults}"
        );
        let playbook = &files[0].1;
        assert!(
            playbook.contains("hosts: !unsafe docker_hosts"),
            "{playbook}"
        );
    }

    #[test]
    fn symlinked_directories_are_never_followed() {
        let repo = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), repo.path().join("roles")).unwrap();
        let error = write(repo.path(), &spec("box", "acme/box:2.0"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("symbolic link"), "{error}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert!(!repo.path().join("box-deployment.yml").exists());
    }

    #[test]
    fn never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(dir.path(), &spec("home-box", "acme/box:2.0")).unwrap();
        assert!(written.contains(&"roles/home_box/tasks/main.yml".to_owned()));
        let error = write(dir.path(), &spec("home-box", "acme/box:2.1"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("already exists"), "{error}");
        let defaults =
            std::fs::read_to_string(dir.path().join("roles/home_box/defaults/main.yml")).unwrap();
        assert!(defaults.contains("acme/box:2.0"), "the first one stays");
    }
}
