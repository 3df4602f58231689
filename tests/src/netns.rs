//! Network namespaces for tests, driven through `ip(8)` (`ip netns`, `ip -n`).
//!
//! A [`Netns`] is an RAII guard: it creates a namespace named
//! `pptpdt-<pid>-<n>-<role>` and deletes it on drop, panics included, after killing
//! every process still inside it. The pid in the name tells which test process owns
//! it, so [`cleanup_leftovers`] can delete the namespaces of processes that died
//! without running their destructors (SIGKILL, abort, a CI timeout).
//! Nothing here touches the root namespace's interfaces, routes or firewall.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::process::{Process, describe, run_checked};

/// Every namespace this crate creates starts with this.
pub const PREFIX: &str = "pptpdt-";

/// The per-process sequence number in namespace names.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace that exists as long as this value does.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `pptpdt-<pid>-<n>-<role>` with its loopback up and IPv6 off (so
    /// captures hold only the IPv4 the tests are about). `role` is a short lowercase
    /// word ("gw", "vpc").
    pub fn new(role: &str) -> Result<Netns> {
        if role.is_empty()
            || role.len() > 16
            || !role
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(Error::InvalidArgument(format!("namespace role {role:?}")));
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}-{role}", std::process::id());
        ip(&["netns", "add", &name])?;
        // From here on, Drop deletes it whatever fails next.
        let ns = Netns { name };
        // Best effort: a kernel booted with ipv6.disable=1 has no such keys.
        let _ = ns.set_sysctl("net.ipv6.conf.all.disable_ipv6", "1");
        let _ = ns.set_sysctl("net.ipv6.conf.default.disable_ipv6", "1");
        ns.link_up("lo")?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace (`ip netns exec NAME program`);
    /// add arguments and stdio, then spawn it or give it to [`Netns::spawn`].
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `args` inside the namespace to completion. Fails only when `ip` cannot be
    /// started; a failing command is an `Output` with an unsuccessful status.
    pub fn exec(&self, args: &[&str]) -> Result<Output> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| Error::InvalidArgument("empty command".into()))?;
        let mut cmd = self.command(program);
        cmd.args(rest).stdin(Stdio::null());
        cmd.output().map_err(|source| Error::Spawn {
            command: describe(&cmd),
            source,
        })
    }

    /// Runs `args` inside the namespace and returns stdout; fails unless it exits with 0.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| Error::InvalidArgument("empty command".into()))?;
        let mut cmd = self.command(program);
        cmd.args(rest);
        run_checked(cmd)
    }

    /// Runs `ip -n NAME args...` and returns stdout; fails unless it exits with 0.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// Starts `cmd` inside the namespace as a [`Process`] (captured output, killed on
    /// drop). Program, arguments, environment changes and working directory of `cmd`
    /// are kept; its stdio settings are not (stdin is /dev/null, output is captured).
    pub fn spawn(&self, cmd: Command) -> Result<Process> {
        let mut wrapped = self.command(cmd.get_program());
        wrapped.args(cmd.get_args());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        let label = format!("{} in {}", cmd.get_program().to_string_lossy(), self.name);
        Process::spawn(&label, wrapped)
    }

    /// The processes running inside the namespace now.
    pub fn pids(&self) -> Result<Vec<u32>> {
        pids_in(&self.name)
    }

    /// Sets a sysctl of this namespace, e.g. `("net.ipv4.ip_forward", "1")`.
    pub fn set_sysctl(&self, key: &str, value: &str) -> Result<()> {
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
            || !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b' ')
        {
            return Err(Error::InvalidArgument(format!("sysctl {key}={value}")));
        }
        // /proc/sys/net shows the namespace of the process that opens it.
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.run(&["sh", "-c", &format!("echo '{value}' > {path}")])
            .map(drop)
    }

    /// Reads a sysctl of this namespace.
    pub fn sysctl(&self, key: &str) -> Result<String> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        Ok(self.run(&["cat", &path])?.trim().to_owned())
    }

    /// Adds `cidr` ("10.100.100.1/24") to `dev`.
    pub fn add_address(&self, dev: &str, cidr: &str) -> Result<()> {
        self.ip(&["addr", "add", cidr, "dev", dev]).map(drop)
    }

    /// Sets `dev` up.
    pub fn link_up(&self, dev: &str) -> Result<()> {
        self.ip(&["link", "set", dev, "up"]).map(drop)
    }

    /// Adds a route to `dest` ("default", "198.51.100.0/24") via the gateway `via`.
    pub fn add_route(&self, dest: &str, via: Ipv4Addr) -> Result<()> {
        self.ip(&["route", "add", dest, "via", &via.to_string()])
            .map(drop)
    }

    /// Creates a persistent TAP device `dev` (for qemu's `-netdev tap,ifname=dev`).
    pub fn add_tap(&self, dev: &str) -> Result<()> {
        self.ip(&["tuntap", "add", "dev", dev, "mode", "tap"])
            .map(drop)
    }

    /// Creates a bridge `dev` without STP and forwarding delay.
    pub fn add_bridge(&self, dev: &str) -> Result<()> {
        self.ip(&[
            "link",
            "add",
            dev,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])
        .map(drop)
    }

    /// Makes `dev` a port of `bridge`.
    pub fn set_master(&self, dev: &str, bridge: &str) -> Result<()> {
        self.ip(&["link", "set", dev, "master", bridge]).map(drop)
    }

    /// The IPv4 addresses on `dev`, as `ip -4 -o addr` lists them ("10.100.100.1/24").
    pub fn addresses(&self, dev: &str) -> Result<Vec<String>> {
        let out = self.ip(&["-4", "-o", "addr", "show", "dev", dev])?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                words.find(|w| *w == "inet")?;
                words.next().map(str::to_owned)
            })
            .collect())
    }

    /// The link names in this namespace.
    pub fn links(&self) -> Result<Vec<String>> {
        Ok(link_names(&self.ip(&["-o", "link", "show"])?))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = remove(&self.name) {
            eprintln!("pptpd-tests: could not delete namespace {}: {e}", self.name);
        }
    }
}

/// Creates a veth pair: `a_dev` in `a`, `b_dev` in `b` (both down, no addresses).
/// The pair is made inside `a`, so the root namespace never sees it.
pub fn veth_pair(a: &Netns, a_dev: &str, b: &Netns, b_dev: &str) -> Result<()> {
    a.ip(&[
        "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", &b.name,
    ])
    .map(drop)
}

/// Whether we run as root (namespaces need it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// For tests that need root: true when we are root; otherwise prints why `test` is
/// skipped and returns false, e.g. `if !require_root("vm_smoke") { return; }`.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!("skipped {test}: needs root (network namespaces)");
    false
}

/// Every namespace whose name starts with [`PREFIX`], ours or not.
pub fn list_ours() -> Result<Vec<String>> {
    let out = ip(&["netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_owned)
        .collect())
}

/// The pid in `pptpdt-<pid>-<n>-<role>`, if `name` is one of ours.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, rest) = rest.split_once('-')?;
    let (n, _role) = rest.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Deletes the namespaces of test processes that no longer run (killing whatever
/// still runs inside them) and returns their names. Namespaces of live processes,
/// this one included, are left alone. Also removes those processes' scratch files
/// (`$TMPDIR/pptpdt-<pid>-*`, see [`scratch_prefix`]).
pub fn cleanup_leftovers() -> Result<Vec<String>> {
    let dead = |pid: u32| pid != std::process::id() && !process_alive(pid);
    let mut removed = Vec::new();
    for name in list_ours()? {
        if owner_pid(&name).is_some_and(dead) {
            remove(&name)?;
            removed.push(name);
        }
    }
    let tmp = std::env::temp_dir();
    for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if dead(pid) {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
    Ok(removed)
}

/// The prefix of this process's scratch files and directories in `$TMPDIR`
/// (`pptpdt-<pid>-`), which [`cleanup_leftovers`] removes once the process is gone.
pub fn scratch_prefix() -> String {
    format!("{PREFIX}{}-", std::process::id())
}

/// Whether `pid` is a running (not zombie) process.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Runs `ip args...` and returns stdout; fails unless it exits with 0.
pub fn ip(args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    run_checked(cmd)
}

/// The processes inside namespace `name`.
fn pids_in(name: &str) -> Result<Vec<u32>> {
    Ok(ip(&["netns", "pids", name])?
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect())
}

/// Kills everything inside `name` and deletes it.
fn remove(name: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = pids_in(name).unwrap_or_default();
        if pids.is_empty() || Instant::now() >= deadline {
            break;
        }
        for pid in pids {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    if Path::new("/run/netns").join(name).exists() {
        ip(&["netns", "del", name])?;
    }
    Ok(())
}

/// Link names from `ip -o link show` output ("2: eth0@if3: <...>" gives "eth0").
pub fn link_names(ip_o_link: &str) -> Vec<String> {
    ip_o_link
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_reads_our_names_only() {
        assert_eq!(owner_pid("pptpdt-4242-7-gw"), Some(4242));
        assert_eq!(owner_pid("pptpdt-4242-7"), None);
        assert_eq!(owner_pid("pptpdt-x-7-gw"), None);
        assert_eq!(owner_pid("pptpdt-4242-x-gw"), None);
        assert_eq!(owner_pid("vpc"), None);
    }

    #[test]
    fn link_names_strip_peer_suffix() {
        let out = "1: lo: <LOOPBACK,UP> mtu 65536\n\
                   5: lan0@if4: <BROADCAST,MULTICAST> mtu 1500\n";
        assert_eq!(link_names(out), ["lo", "lan0"]);
    }

    #[test]
    fn this_process_is_alive() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX));
    }
}
