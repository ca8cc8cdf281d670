//! SSH "hosts" on loopback for the tests: Debian's `sshd` started by the test on a free port
//! with its own config and host key (killed on drop), a client key the test generates, a
//! known_hosts file the test writes, and a login user with passwordless sudo, so playbooks reach
//! them the way an infra agent reaches a real homelab's machines: `ansible_connection: ssh`,
//! host key checking on, `become: true`.
//!
//! The login user is an unprivileged account (`chiffon-ssh`), created once when missing, with a
//! sudoers line of its own: Ansible skips `become` when the login user already is the become
//! user, so logging in as root would prove nothing about it. The tests run as root (they start
//! `sshd` on its privilege-separation directory and create that account); elsewhere they are
//! skipped with a loud message, and under CI (`CI=true`) they fail instead.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The account the agent logs in as on every test host.
pub const LOGIN_USER: &str = "chiffon-ssh";
const SUDOERS_FILE: &str = "/etc/sudoers.d/chiffon-ssh-test";

/// Why SSH tests cannot run here, once per test binary; `None` when they can.
fn missing() -> Option<&'static str> {
    static CHECK: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    CHECK.get_or_init(|| prepare_machine().err()).as_deref()
}

/// `Some(())` when the SSH tests can run; else says why, loudly, and fails under CI.
pub fn available() -> Option<()> {
    let Some(why) = missing() else {
        return Some(());
    };
    let message =
        format!("SSH tests skipped: {why} (CI installs openssh-server and sudo: see .ci/run)");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("\n!!! {message}\n");
    None
}

fn sshd_bin() -> Option<PathBuf> {
    let fixed = Path::new("/usr/sbin/sshd");
    if fixed.is_file() {
        return Some(fixed.to_owned());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("sshd"))
        .find(|p| p.is_file())
}

/// sshd, sudo, the login user and its sudoers line; sshd's privilege-separation directory.
fn prepare_machine() -> Result<(), String> {
    if sshd_bin().is_none() {
        return Err("no sshd (apt-get install openssh-server)".into());
    }
    if !Path::new("/usr/bin/sudo").is_file() {
        return Err("no sudo (apt-get install sudo)".into());
    }
    if !run("id", &["-u"]).is_ok_and(|uid| uid.trim() == "0") {
        return Err("the tests do not run as root, so they cannot start sshd for a login".into());
    }
    if run("id", &["-u", LOGIN_USER]).is_err() {
        // `-p '*'`: no password that works, but not a locked account, which sshd would refuse.
        let made = run(
            &sbin("useradd"),
            &[
                "--system",
                "--create-home",
                "--shell",
                "/bin/sh",
                "-p",
                "*",
                LOGIN_USER,
            ],
        );
        if made.is_err() && run("id", &["-u", LOGIN_USER]).is_err() {
            return Err(format!(
                "cannot create the login user {LOGIN_USER}: {made:?}"
            ));
        }
    }
    let line = format!("{LOGIN_USER} ALL=(ALL) NOPASSWD: ALL\n");
    if std::fs::read_to_string(SUDOERS_FILE).ok().as_deref() != Some(line.as_str()) {
        let draft = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        std::fs::write(draft.path(), &line).map_err(|e| e.to_string())?;
        run(
            &sbin("visudo"),
            &["-cqf", &draft.path().display().to_string()],
        )?;
        std::fs::copy(draft.path(), SUDOERS_FILE).map_err(|e| e.to_string())?;
        std::fs::set_permissions(SUDOERS_FILE, std::fs::Permissions::from_mode(0o440))
            .map_err(|e| e.to_string())?;
    }
    // sshd running as root confines its pre-authentication child to this directory; Debian's
    // service creates it at boot, a test's sshd has to find it too.
    std::fs::create_dir_all("/run/sshd").map_err(|e| format!("/run/sshd: {e}"))?;
    Ok(())
}

/// `/usr/sbin/<name>` where it is (a test's PATH may lack `/usr/sbin`), else `name`.
fn sbin(name: &str) -> String {
    let path = Path::new("/usr/sbin").join(name);
    if path.is_file() {
        path.display().to_string()
    } else {
        name.to_owned()
    }
}

/// A program's stdout, or why it failed.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A new ed25519 key pair at `path` (`path.pub` beside it); returns the public line.
pub fn keygen(path: &Path, comment: &str) -> String {
    let path_text = path.display().to_string();
    run(
        "ssh-keygen",
        &[
            "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", &path_text,
        ],
    )
    .expect("ssh-keygen");
    std::fs::read_to_string(path.with_extension("pub")).expect("public key")
}

/// A free loopback port (nothing listens on it once this returns).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// A loopback port that refuses every connection for as long as the returned socket lives: it
/// is bound but never listens, so no other test (an sshd started meanwhile) can take the port
/// and answer in its place, as a port merely found free could be.
pub fn refusing_port() -> (socket2::Socket, u16) {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    socket.bind(&loopback.into()).expect("bind");
    let port = socket
        .local_addr()
        .expect("address")
        .as_socket()
        .expect("an inet address")
        .port();
    (socket, port)
}

/// One `sshd -D -e -f <config> -p <port>` with a host key of its own, accepting the keys in
/// `authorized_keys` for [`LOGIN_USER`]; its log (LogLevel VERBOSE) goes to a file.
pub struct SshHost {
    child: Child,
    pub port: u16,
    /// `ssh-ed25519 AAAA…`: the host key, for known_hosts.
    pub host_key: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl SshHost {
    pub fn start(authorized_keys: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // The login user reads authorized_keys from here (sshd reads it as that user).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let host_key_file = dir.path().join("ssh_host_ed25519_key");
        let host_key = keygen(&host_key_file, "chiffon-test-host");
        let host_key = host_key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let authorized = dir.path().join("authorized_keys");
        std::fs::write(&authorized, authorized_keys).unwrap();
        std::fs::set_permissions(&authorized, std::fs::Permissions::from_mode(0o644)).unwrap();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nAuthorizedKeysFile {}\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin no\nAllowUsers {LOGIN_USER}\n\
                 UsePAM no\nStrictModes no\nLogLevel VERBOSE\n",
                host_key_file.display(),
                authorized.display()
            ),
        )
        .unwrap();
        let log = dir.path().join("sshd.log");
        let (child, port) = spawn_listening(&config, &log);
        Self {
            child,
            port,
            host_key,
            log,
            _dir: dir,
        }
    }

    /// `[127.0.0.1]:PORT ssh-ed25519 AAAA…`: this host's line in a known_hosts file.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}\n", self.port, self.host_key)
    }

    /// What sshd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The logins sshd accepted: "Accepted publickey for USER from 127.0.0.1 port P ssh2:
    /// ED25519 SHA256:…".
    pub fn accepted_logins(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.starts_with("Accepted publickey for"))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for SshHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts sshd on a free port and waits until it listens; another port if one was taken
/// between the probe and sshd's bind.
fn spawn_listening(config: &Path, log: &Path) -> (Child, u16) {
    let sshd = sshd_bin().expect("sshd");
    for _attempt in 0..5 {
        let port = free_port();
        let mut child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(config)
            .args(["-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("sshd log"))
            .spawn()
            .expect("start sshd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (child, port);
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        eprintln!(
            "sshd did not listen on port {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    panic!(
        "sshd never started listening: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The agent's side: its key pair, a key no host accepts, and the known_hosts file, in a
/// private (0700) folder.
pub struct ClientKeys {
    pub key: PathBuf,
    pub public_key: String,
    pub wrong_key: PathBuf,
    pub known_hosts: PathBuf,
    _dir: tempfile::TempDir,
}

impl ClientKeys {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("agent_ed25519");
        let public_key = keygen(&key, "chiffon-test-agent");
        let wrong_key = dir.path().join("stranger_ed25519");
        keygen(&wrong_key, "chiffon-test-stranger");
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(&known_hosts, "").unwrap();
        Self {
            key,
            public_key,
            wrong_key,
            known_hosts,
            _dir: dir,
        }
    }

    /// Records `host`'s key in known_hosts, as an owner does after checking its fingerprint.
    pub fn trust(&self, host: &SshHost) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.known_hosts)
            .unwrap();
        file.write_all(host.known_hosts_line().as_bytes()).unwrap();
    }

    /// The base64 body of every private key here, to prove none of it leaks.
    pub fn private_key_bodies(&self) -> Vec<String> {
        [&self.key, &self.wrong_key]
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).unwrap();
                text.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>()
            })
            .collect()
    }
}

/// An inventory host reached over SSH in a test homelab: the sshd's port and the agent's key.
pub struct SshTarget<'a> {
    pub host: &'a str,
    pub port: u16,
    pub key: &'a Path,
}

/// The example homelab's inventory (same hosts and groups, so plans are the same) with the
/// hosts in `ssh` reached over SSH as [`LOGIN_USER`] with `become`, host key checking on against
/// `known_hosts`; the other hosts keep the local connection.
pub fn inventory(ssh: &[SshTarget<'_>], known_hosts: &Path) -> String {
    // Debian's own Python, as on a real host; the controller's venv Python is not the host's.
    let python = if Path::new("/usr/bin/python3").is_file() {
        "/usr/bin/python3".to_owned()
    } else {
        "\"{{ ansible_playbook_python }}\"".to_owned()
    };
    let vars = |host: &str| -> String {
        let Some(SshTarget { port, key, .. }) = ssh.iter().find(|t| t.host == host) else {
            return String::new();
        };
        let indent = "              ";
        [
            "ansible_connection: ssh".to_owned(),
            "ansible_host: 127.0.0.1".to_owned(),
            format!("ansible_port: {port}"),
            format!("ansible_user: {LOGIN_USER}"),
            format!("ansible_ssh_private_key_file: {}", key.display()),
            format!(
                "ansible_ssh_common_args: \"-o UserKnownHostsFile={} -o IdentitiesOnly=yes\"",
                known_hosts.display()
            ),
            "ansible_host_key_checking: true".to_owned(),
            "ansible_become: true".to_owned(),
            format!("ansible_python_interpreter: {python}"),
        ]
        .iter()
        .map(|line| format!("{indent}{line}\n"))
        .collect()
    };
    format!(
        "# The example homelab's hosts, some reached over SSH on loopback (tests/chiffon/ssh.rs).
all:
  children:
    homelab:
      vars:
        ansible_connection: local
        ansible_python_interpreter: \"{{{{ ansible_playbook_python }}}}\"
      children:
        docker_hosts:
          hosts:
            lola:
              lan_ip: 192.168.1.10
{lola}            nas:
              lan_ip: 192.168.1.20
{nas}        monitoring:
          hosts:
            lola:
        storage:
          hosts:
            nas:
        dns:
          hosts:
            pi:
              lan_ip: 192.168.1.2
{pi}        production:
          hosts:
            lola:
            nas:
        staging:
          hosts:
            lola-staging:
              lan_ip: 192.168.1.110
        gpu_desktops:
          hosts:
            tower:
              lan_ip: 192.168.1.30
",
        lola = vars("lola"),
        nas = vars("nas"),
        pi = vars("pi"),
    )
}
