//! pptpd-rs under test: writes a poptop-style configuration set into a test's
//! work directory, runs the gateway inside the topology's `gw` namespace, waits
//! until it listens, stops it with a signal, and lists anything of ours left in
//! the namespace afterwards (nft table, iptables chains, TUN device, routes,
//! `ip_forward`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::process::Process;

/// The gateway binary of this package (`src/bin/gateway.rs`), for integration tests.
#[macro_export]
macro_rules! gateway_bin {
    () => {
        std::path::Path::new(env!("CARGO_BIN_EXE_gateway"))
    };
}

/// The gateway's PPP address (`localip`) in the tests.
pub const LOCAL_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
/// The first pool address (`remoteip 192.168.0.234-238,192.168.0.245`).
pub const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 234);
/// The name of the TUN device the tests use.
pub const TUN: &str = "pptp0";

/// One chap-secrets line.
#[derive(Debug, Clone)]
pub struct User {
    /// Client name.
    pub name: String,
    /// Password.
    pub password: String,
    /// The address field (`*` or a static address).
    pub address: String,
}

/// What the test's configuration set contains.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `remoteip` value.
    pub remoteip: String,
    /// `connections` value.
    pub connections: u32,
    /// Users in chap-secrets.
    pub users: Vec<User>,
    /// Extra lines for pptpd.conf.
    pub conf_lines: Vec<String>,
    /// Extra lines for the options file.
    pub option_lines: Vec<String>,
    /// Run with `--debug`.
    pub debug: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            remoteip: "192.168.0.234-238,192.168.0.245".into(),
            connections: 100,
            users: vec![User {
                name: "root".into(),
                password: "123456".into(),
                address: "*".into(),
            }],
            conf_lines: Vec::new(),
            option_lines: Vec::new(),
            debug: true,
        }
    }
}

impl GatewayConfig {
    /// Adds a user.
    pub fn user(mut self, name: &str, password: &str, address: &str) -> Self {
        self.users.push(User {
            name: name.into(),
            password: password.into(),
            address: address.into(),
        });
        self
    }

    /// Adds a pptpd.conf line.
    pub fn conf(mut self, line: &str) -> Self {
        self.conf_lines.push(line.into());
        self
    }

    /// Adds an options-file line.
    pub fn option(mut self, line: &str) -> Self {
        self.option_lines.push(line.into());
        self
    }

    /// Writes pptpd.conf, pptpd-options and chap-secrets (mode 600) into `dir`;
    /// returns the path of pptpd.conf.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let conf = dir.join("pptpd.conf");
        let mut text = String::new();
        let _ = writeln!(text, "option {}", dir.join("pptpd-options").display());
        let _ = writeln!(text, "chap-secrets {}", dir.join("chap-secrets").display());
        let _ = writeln!(text, "pidfile {}", dir.join("pptpd.pid").display());
        let _ = writeln!(text, "localip {LOCAL_IP}");
        let _ = writeln!(text, "remoteip {}", self.remoteip);
        let _ = writeln!(text, "connections {}", self.connections);
        let _ = writeln!(text, "tun {TUN}");
        for line in &self.conf_lines {
            let _ = writeln!(text, "{line}");
        }
        write_file(&conf, &text)?;
        let mut options = String::from(
            "name pptpd\nrefuse-pap\nrefuse-chap\nrefuse-mschap\nrequire-mschap-v2\nrequire-mppe-128\n\
             ms-dns 192.168.0.1\nproxyarp\nnodefaultroute\nlock\nnobsdcomp\nnovj\nnovjccomp\nnologfd\n",
        );
        for line in &self.option_lines {
            let _ = writeln!(options, "{line}");
        }
        write_file(&dir.join("pptpd-options"), &options)?;
        let mut secrets = String::from("# client\tserver\tsecret\tIP addresses\n");
        for u in &self.users {
            let _ = writeln!(
                secrets,
                "{}\tpptpd\t\"{}\"\t{}",
                u.name, u.password, u.address
            );
        }
        let path = dir.join("chap-secrets");
        write_file(&path, &secrets)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| Error::Io {
                path: path.clone(),
                source,
            },
        )?;
        Ok(conf)
    }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A running gateway.
pub struct Gateway {
    process: Process,
    /// pptpd.conf of this run.
    pub conf: PathBuf,
}

impl Gateway {
    /// Writes the configuration into `dir`, starts `bin` in `ns` and waits until it listens.
    pub fn start(bin: &Path, ns: &Netns, dir: &Path, config: &GatewayConfig) -> Result<Gateway> {
        let conf = config.write(dir)?;
        Self::start_with(bin, ns, &conf, config.debug)
    }

    /// Starts `bin -c conf` in `ns` and waits until it listens.
    pub fn start_with(bin: &Path, ns: &Netns, conf: &Path, debug: bool) -> Result<Gateway> {
        let mut cmd = ns.command(bin);
        cmd.arg("-c").arg(conf);
        if debug {
            cmd.arg("--debug");
        }
        cmd.env("RUST_LOG_STYLE", "never").env("NO_COLOR", "1");
        let process = ns.spawn(cmd)?;
        process.wait_for_stderr_line(Duration::from_secs(20), |l| l.contains("listening on"))?;
        Ok(Gateway {
            process,
            conf: conf.to_path_buf(),
        })
    }

    /// The gateway's log so far.
    pub fn log(&self) -> Vec<String> {
        self.process.stderr_lines()
    }

    /// Waits for a log line.
    pub fn wait_for_log(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Result<String> {
        self.process.wait_for_stderr_line(timeout, pred)
    }

    /// Sends `signal` and waits up to `timeout` for the exit: the status and how long it took.
    pub fn stop(&mut self, signal: Signal, timeout: Duration) -> Result<(ExitStatus, Duration)> {
        let start = Instant::now();
        self.process.signal(signal);
        match self.process.wait_timeout(timeout)? {
            Some(status) => Ok((status, start.elapsed())),
            None => Err(Error::Timeout {
                what: format!("gateway exit after {signal}"),
                timeout,
            }),
        }
    }

    /// Sends `signal` without waiting (SIGHUP: reload).
    pub fn signal(&self, signal: Signal) {
        self.process.signal(signal);
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }
}

/// Where the daemon keeps the original `ip_forward` of `ns`: `/run/pptpd-rs/netns-<inode>/`
/// (`None` if the namespace's inode cannot be read).
pub fn state_dir(ns: &Netns) -> Option<PathBuf> {
    let out = ns
        .exec(&["stat", "-L", "-c", "%i", "/proc/self/ns/net"])
        .ok()?;
    let inode = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!inode.is_empty()).then(|| Path::new("/run/pptpd-rs").join(format!("netns-{inode}")))
}

/// What of ours is left in `ns`: an nft table, iptables chains, the TUN device, routes
/// through it, the namespace's state directory under /run/pptpd-rs. Empty when the
/// gateway cleaned up.
pub fn leftovers(ns: &Netns) -> Result<Vec<String>> {
    let mut found = Vec::new();
    if let Ok(out) = ns.exec(&["nft", "list", "tables"]) {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("pptpd_rs") {
            found.push(format!("nft: {}", text.trim()));
        }
    }
    for table in ["nat", "filter", "mangle"] {
        if let Ok(out) = ns.exec(&["iptables", "-w", "-t", table, "-S"]) {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if line.contains("PPTPD_RS") {
                    found.push(format!("iptables -t {table}: {line}"));
                }
            }
        }
    }
    if ns.links()?.iter().any(|l| l == TUN) {
        found.push(format!("link {TUN}"));
    }
    let routes = ns.ip(&["route", "show"])?;
    for line in routes.lines().filter(|l| l.contains(TUN)) {
        found.push(format!("route {line}"));
    }
    if let Some(dir) = state_dir(ns).filter(|d| d.exists()) {
        found.push(format!("state directory {}", dir.display()));
    }
    Ok(found)
}
