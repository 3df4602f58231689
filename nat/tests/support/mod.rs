//! Throwaway network namespaces for the root tests, and re-running this test binary inside them
//! ("roles": `#[ignore]`d tests that a parent test starts with `ip netns exec`).
//!
//! Nothing here touches the root namespace's firewall: parents only create namespaces and veth
//! pairs inside them (`ip -n`), and every role refuses to run unless it is inside the namespace
//! its parent created for it.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set by the parent to the namespace a role must run in.
pub const NETNS_ENV: &str = "NAT_TEST_NETNS";

/// Is the effective user root? (`/proc/self/status`: `Uid: real effective saved fs`.)
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            Some(line.split_whitespace().nth(2)? == "0")
        })
        .unwrap_or(false)
}

/// `true` (and a printed reason) when the test cannot run here.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipping {test}: needs root (network namespaces, nft, iptables)");
    true
}

/// A network namespace created for one test and deleted when dropped, even on panic.
pub struct Netns {
    /// The name under /run/netns.
    pub name: String,
}

impl Netns {
    /// Creates `nat<pid>-<n>-<tag>` with its loopback up.
    pub fn new(tag: &str) -> Netns {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("nat{}-{n}-{tag}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let netns = Netns { name };
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    /// `ip -n <ns> <args>`, panicking on failure.
    pub fn ip(&self, args: &[&str]) {
        let mut argv = vec!["ip", "-n", &self.name];
        argv.extend_from_slice(args);
        run(&argv);
    }

    /// Runs a role of this test binary inside the namespace; panics unless it passed.
    pub fn run_role(&self, role: &str, envs: &[(&str, &str)]) -> String {
        let output = role_command(&self.name, role, envs)
            .output()
            .unwrap_or_else(|e| panic!("cannot start role {role}: {e}"));
        let stdout = check_role(role, &output);
        println!("--- role {role} in {}:\n{stdout}", self.name);
        stdout
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The command that runs `role` of this test binary in namespace `netns`.
pub fn role_command(netns: &str, role: &str, envs: &[(&str, &str)]) -> Command {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", netns])
        .arg(exe)
        .args([
            role,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NETNS_ENV, netns)
        .envs(envs.iter().copied());
    command
}

/// Starts a role in the background with stdout piped.
pub fn spawn_role(netns: &str, role: &str, envs: &[(&str, &str)]) -> Child {
    role_command(netns, role, envs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start role {role}: {e}"))
}

/// Kills a background role (by its own pid) and returns what it printed.
pub fn stop_role(mut child: Child) -> String {
    let _ = child.kill();
    let _ = child.wait();
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    out
}

/// Panics unless the role's harness ran exactly one test and it passed; returns its stdout.
pub fn check_role(role: &str, output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "role {role} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    stdout
}

/// Inside a role: panics unless this process runs in the namespace the parent created; returns
/// its name. Protects the host if someone runs `cargo test -- --ignored` by hand.
pub fn enter_role() -> String {
    let expected = std::env::var(NETNS_ENV).unwrap_or_else(|_| {
        panic!("roles only run inside a throwaway namespace started by their parent test")
    });
    let identified = run(&["ip", "netns", "identify"]);
    assert_eq!(
        identified.trim(),
        expected,
        "refusing to run outside the throwaway namespace"
    );
    // libtest has printed "test <role> ... " without a newline: start the role's lines afresh.
    println!();
    expected
}

/// Runs a command, panicking with its stderr on failure; returns stdout.
pub fn run(argv: &[&str]) -> String {
    let output = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
    assert!(
        output.status.success(),
        "{argv:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The value after `prefix ` on the first line that starts with it.
pub fn field(text: &str, prefix: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix(prefix)?.strip_prefix(' '))
        .map(|value| value.trim().to_owned())
}
