//! Rules for containers, wherever they are defined: compose services (also in Jinja templates
//! and inline `definition:`s), `docker_container`/`podman_container` tasks, and the service
//! dictionaries some repositories build with `set_fact` and render into one compose file.
//! Pinned images, restart policies, healthchecks, secrets in the environment, the Docker
//! socket, privileged mode, host networking and admin UIs published on every interface.

use crate::repo::outline::Node;
use crate::suggest::Severity;
use crate::suggest::findings::Findings;
use crate::suggest::rules::secrets;
use crate::suggest::source::{Kind, Source, short};

/// How a container is written down: compose keys, or a module's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Compose,
    Module,
}

/// One container definition.
struct Container<'a> {
    node: &'a Node,
    flavor: Flavor,
    /// Its name (compose service, module `name:`), for messages and known-app lists.
    name: String,
    image: &'a Node,
}

impl Container<'_> {
    fn get(&self, compose: &str, module: &[&str]) -> Option<&Node> {
        match self.flavor {
            Flavor::Compose => self.node.get(compose),
            Flavor::Module => module.iter().find_map(|k| self.node.get(k)),
        }
    }

    /// The service name and image repository, lower case, for matching known apps.
    fn identity(&self) -> String {
        format!("{} {}", self.name, self.image.scalar()).to_ascii_lowercase()
    }

    fn is_one_of(&self, apps: &[&str]) -> bool {
        let identity = self.identity();
        apps.iter().any(|app| identity.contains(app))
    }
}

pub(crate) fn check(found: &mut Findings<'_>, source: &Source) {
    if matches!(source.kind, Kind::Other) {
        return;
    }
    let mut containers = Vec::new();
    collect(&source.nodes, None, &mut containers);
    for container in &containers {
        if container
            .node
            .get("state")
            .is_some_and(|s| s.scalar() == "absent")
        {
            continue;
        }
        let owner = match container.flavor {
            Flavor::Compose => format!("service {}", container.name),
            Flavor::Module => format!("container {}", container.name),
        };
        unpinned_image(found, container.image, &owner);
        restart_policy(found, container, &owner);
        healthcheck(found, container, &owner);
        if let Some(environment) = container.get("environment", &["env"]) {
            secrets::environment(found, environment, &owner);
        }
        docker_socket(found, container, &owner);
        privileged(found, container, &owner);
        host_network(found, container, &owner);
        published_ports(found, container, &owner);
    }
}

/// Finds container definitions: a keyed node with an `image:` child.
fn collect<'a>(nodes: &'a [Node], parent: Option<&str>, out: &mut Vec<Container<'a>>) {
    for node in nodes {
        let image = node.get("image").filter(|i| !i.scalar().is_empty());
        if let (Some(key), Some(image)) = (node.key.as_deref(), image) {
            let module = matches!(short(key), "docker_container" | "podman_container");
            let name = if module || key == "set_fact" || parent == Some("set_fact") {
                node.get("name")
                    .or_else(|| node.get("container_name"))
                    .map_or(key, |n| n.scalar())
            } else {
                key
            };
            out.push(Container {
                node,
                flavor: if module {
                    Flavor::Module
                } else {
                    Flavor::Compose
                },
                name: name.to_owned(),
                image,
            });
            continue;
        }
        collect(&node.children, node.key.as_deref(), out);
    }
}

/// Tags that move: a re-deploy gets whatever was pushed last.
pub(crate) fn moving_tag(tag: &str) -> bool {
    let tag = tag.to_ascii_lowercase();
    [
        "latest", "main", "master", "nightly", "release", "edge", "dev", "develop", "stable",
    ]
    .iter()
    .any(|m| tag == *m || tag.ends_with(&format!("-{m}")))
}

fn unpinned_image(found: &mut Findings<'_>, image: &Node, owner: &str) {
    let reference = image.scalar();
    if reference.contains("{{") || reference.contains("${") || reference.contains('@') {
        return;
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let tag = last.split_once(':').map(|(_, t)| t);
    let problem = match tag {
        None => "has no tag, which means `latest`".to_owned(),
        Some(tag) if moving_tag(tag) => format!("is on the moving tag `{tag}`"),
        Some(_) => return,
    };
    let repository = reference.rsplit_once(':').map_or(reference, |(r, _)| r);
    let repository = if tag.is_none() { reference } else { repository };
    found.add(
        "unpinned-image",
        image.line,
        Severity::High,
        format!("{owner}: image {reference} {problem}, so a re-deploy can silently upgrade (or break) it. Pin the version you run, e.g. `{repository}:<version>`."),
        None,
    );
}

fn restart_policy(found: &mut Findings<'_>, container: &Container<'_>, owner: &str) {
    if container
        .get("restart", &["restart_policy", "restart"])
        .is_some()
        || container.node.get("deploy").is_some()
    {
        return;
    }
    let pad = " ".repeat(container.image.indent);
    let (line, text) = match container.flavor {
        Flavor::Compose => (container.node.line, format!("{pad}restart: unless-stopped")),
        Flavor::Module => (
            container.node.line,
            format!("{pad}restart_policy: unless-stopped"),
        ),
    };
    found.add(
        "no-restart-policy",
        line,
        Severity::Medium,
        format!("{owner} has no restart policy: after a crash or a reboot it stays down. `unless-stopped` brings it back unless you stopped it yourself."),
        Some(found.insert_after(container.image.last_line(), &[text])),
    );
}

/// The health probe an app's image ships with, by the image's name or, when the image is a
/// template variable, the service's name. Only probes that use what the image itself contains.
fn known_healthcheck(service: &str, image: &str) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        ("uptime-kuma", r#"["CMD", "extra/healthcheck"]"#),
        (
            "jellyfin",
            r#"["CMD", "curl", "-fsS", "http://localhost:8096/health"]"#,
        ),
        (
            "home-assistant",
            r#"["CMD", "curl", "-fsS", "http://localhost:8123/"]"#,
        ),
        (
            "homeassistant",
            r#"["CMD", "curl", "-fsS", "http://localhost:8123/"]"#,
        ),
        ("ollama", r#"["CMD", "ollama", "list"]"#),
        ("postgres", r#"["CMD-SHELL", "pg_isready -U postgres"]"#),
        ("redis", r#"["CMD", "redis-cli", "ping"]"#),
        (
            "mariadb",
            r#"["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"]"#,
        ),
    ];
    let repository = image
        .rsplit('/')
        .next()
        .unwrap_or(image)
        .split(':')
        .next()
        .unwrap_or_default();
    let name = if image.contains("{{") || image.contains("${") {
        service
    } else {
        repository
    };
    KNOWN
        .iter()
        .find(|(app, _)| *app == name)
        .map(|(_, test)| *test)
}

fn healthcheck(found: &mut Findings<'_>, container: &Container<'_>, owner: &str) {
    if container.node.get("healthcheck").is_some() {
        return;
    }
    let known = known_healthcheck(&container.name, container.image.scalar());
    // For apps whose own probe is known, and in compose syntax, the change is written out.
    let change = known
        .filter(|_| container.flavor == Flavor::Compose)
        .map(|test| {
            let pad = " ".repeat(container.image.indent);
            found.insert_after(
                container.image.last_line(),
                &[
                    format!("{pad}healthcheck:"),
                    format!("{pad}  test: {test}"),
                    format!("{pad}  interval: 60s"),
                    format!("{pad}  timeout: 30s"),
                    format!("{pad}  retries: 5"),
                    format!("{pad}  start_period: 3m"),
                ],
            )
        });
    let how = match known {
        Some(test) => format!("this image's own probe is `{test}`"),
        None => "add a `healthcheck:` that calls the app (its HTTP status page or CLI)".to_owned(),
    };
    found.add(
        "no-healthcheck",
        container.node.line,
        Severity::Low,
        format!("{owner} has no healthcheck, so Docker (and Chiffon) report it running while the app inside is stuck, and nothing can wait for it with `condition: service_healthy`; {how}."),
        change,
    );
}

/// Containers whose job is to drive Docker itself: they need the socket read-write.
const DOCKER_MANAGERS: &[&str] = &[
    "portainer",
    "watchtower",
    "komodo",
    "periphery",
    "dockge",
    "yacht",
    "runner",
    "woodpecker",
    "drone",
    "dind",
    "swarmpit",
    "ouroboros",
    "dockwatch",
    "autoheal",
    "coolify",
    "dokploy",
];

fn docker_socket(found: &mut Findings<'_>, container: &Container<'_>, owner: &str) {
    let Some(volumes) = container.get("volumes", &["volumes", "volume", "mounts"]) else {
        return;
    };
    for volume in &volumes.children {
        let entry = volume.scalar();
        if !(entry.contains("docker.sock") || entry.contains("podman.sock")) {
            continue;
        }
        let parts: Vec<&str> = entry.split(':').collect();
        let read_only = parts.len() >= 3 && parts[2].split(',').any(|o| o == "ro");
        if read_only || container.is_one_of(DOCKER_MANAGERS) {
            continue;
        }
        let original = found.line_text(volume.line).to_owned();
        let fixed = (parts.len() == 2).then(|| {
            let end = original.trim_end().trim_end_matches(['"', '\'']);
            let closing = &original.trim_end()[end.len()..];
            format!("{end}:ro{closing}")
        });
        found.add(
            "docker-socket-mount",
            volume.line,
            Severity::High,
            format!("{owner} mounts the Docker socket read-write: anything that takes over this container is root on the host. It only needs to read, so mount it `:ro` (better: put a socket proxy such as tecnativa/docker-socket-proxy in front)."),
            fixed.map(|line| found.replace_line(volume.line, Some(line))),
        );
    }
}

/// Containers that need privileged mode to do their job at all.
const NEEDS_PRIVILEGED: &[&str] = &["dind", "cadvisor", "runner", "kasm", "sysbox"];

fn privileged(found: &mut Findings<'_>, container: &Container<'_>, owner: &str) {
    let Some(flag) = container.node.get("privileged") else {
        return;
    };
    if !matches!(flag.scalar(), "true" | "yes" | "True") || container.is_one_of(NEEDS_PRIVILEGED) {
        return;
    }
    found.add(
        "privileged-container",
        flag.line,
        Severity::High,
        format!("{owner} runs privileged: every device and capability of the host, so a bug in it is a bug in the host. Give it only what it needs (`devices:` for a GPU or a USB stick, `cap_add:` for one capability)."),
        None,
    );
}

/// Apps that need the host's network: discovery (DLNA, mDNS, SSDP), DHCP, VPNs, host metrics.
const NEEDS_HOST_NETWORK: &[&str] = &[
    "plex",
    "jellyfin",
    "emby",
    "home-assistant",
    "homeassistant",
    "syncthing",
    "tailscale",
    "wireguard",
    "wol",
    "upsnap",
    "netdata",
    "beszel",
    "pihole",
    "pi-hole",
    "adguard",
    "avahi",
    "mdns",
    "scrypted",
    "homebridge",
    "esphome",
    "matter",
    "node-exporter",
    "node_exporter",
    "glances",
    "unifi",
    "openhab",
    "minidlna",
    "netbootxyz",
    "zerotier",
    "cloudflared",
    "frigate",
    "go2rtc",
    "keepalived",
    "dnsmasq",
];

fn host_network(found: &mut Findings<'_>, container: &Container<'_>, owner: &str) {
    let Some(mode) = container.get("network_mode", &["network_mode", "network"]) else {
        return;
    };
    if mode.scalar() != "host" || container.is_one_of(NEEDS_HOST_NETWORK) {
        return;
    }
    found.add(
        "host-network",
        mode.line,
        Severity::Medium,
        format!("{owner} uses the host's network: every port it opens is open on the host, past Docker's isolation, and it can reach every service bound to localhost. Publish the ports it needs instead."),
        None,
    );
}

/// Whether a reverse proxy routes to the container (Traefik or Caddy labels).
fn behind_proxy(container: &Container<'_>) -> bool {
    container.get("labels", &["labels"]).is_some_and(|labels| {
        labels.children.iter().any(|label| {
            let text = format!(
                "{} {}",
                label.key.as_deref().unwrap_or_default(),
                label.scalar()
            );
            text.contains("traefik.http.routers.") || text.starts_with("caddy")
        })
    })
}

/// Ports meant for clients on the network, not admin UIs: DNS, DHCP, web on 80/443 (a reverse
/// proxy), SSH, mail, MQTT, VPNs, torrents, media discovery, file sharing.
const CLIENT_PORTS: &[u16] = &[
    53, 67, 68, 69, 80, 443, 22, 25, 465, 587, 993, 995, 143, 110, 123, 139, 445, 2049, 1883, 8883,
    51820, 51413, 6881, 32400, 22000, 21027, 1900, 7359, 3478, 5349, 8448, 5353, 64738, 25565,
    27015,
];

fn published_ports(found: &mut Findings<'_>, container: &Container<'_>, owner: &str) {
    let Some(ports) = container.get("ports", &["published_ports", "ports", "publish"]) else {
        return;
    };
    for port in ports.children.iter().filter(|p| p.is_item()) {
        let entry = port.scalar();
        let (host, protocol) = entry.split_once('/').unwrap_or((entry, "tcp"));
        // Colons inside `{{ … }}` do not separate fields.
        let mut depth = 0;
        let fields: Vec<&str> = host
            .split(|c: char| {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                c == ':' && depth == 0
            })
            .collect();
        if fields.len() != 2 || protocol != "tcp" {
            continue; // bound to an address, a container port only, or UDP
        }
        let number = |f: &str| f.trim().parse::<u16>().ok();
        let (host_port, inner) = (number(fields[0]), number(fields[1]));
        // Web on 80/443 is for clients only where the host publishes it there (a proxy).
        let for_clients = |p: u16| CLIENT_PORTS.contains(&p) && !matches!(p, 80 | 443);
        if host_port.is_some_and(|p| CLIENT_PORTS.contains(&p))
            || inner.is_some_and(for_clients)
            || inner.is_none() && host_port.is_none()
        {
            continue;
        }
        let docker_api = matches!(inner, Some(2375 | 2376));
        let original = found.line_text(port.line).to_owned();
        let fixed = original.replacen(host, &format!("127.0.0.1:{host}"), 1);
        let why = if docker_api {
            "this is the Docker API, which is root on the host for anyone who reaches it."
        } else if behind_proxy(container) {
            // The common homelab set-up (the example's too): a reverse proxy serves the UI
            // with TLS, and the port published besides it is a second door nobody meant.
            "the reverse proxy already serves this UI (its labels route to it), so this port is a second way in, without the proxy's TLS or login, that anyone who reaches the host can use."
        } else {
            "anyone who reaches the host reaches this UI, often with its default login."
        };
        found.add(
            "admin-ui-exposed",
            port.line,
            if docker_api { Severity::High } else { Severity::Medium },
            format!(
                "{owner} publishes {entry} on every interface, and Docker's rules bypass the host firewall (ufw): {why} Bind it to 127.0.0.1 (or the LAN address, if devices on the LAN must reach it directly) and reach it through the reverse proxy or a VPN."
            ),
            (fixed != original).then(|| found.replace_line(port.line, Some(fixed))),
        );
    }
}
