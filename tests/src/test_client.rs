//! Our own PPTP client (`pptp-test-client`, the client roles of the core crates) started in the
//! VPC namespace of a [`Topology`], against the gateway's LAN address.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::Result;
use crate::process::Process;
use crate::topology::{GW_LAN_IP, Topology};

/// The path of the `pptp-test-client` binary; only integration tests of this crate know it.
#[macro_export]
macro_rules! test_client_bin {
    () => {
        std::path::Path::new(env!("CARGO_BIN_EXE_pptp-test-client"))
    };
}

/// Starts `bin` (see [`test_client_bin!`]) in `topo`'s VPC namespace with `--server` set to
/// the gateway's LAN address and `args` after it.
pub fn spawn(bin: &Path, topo: &Topology, args: &[&str]) -> Result<Process> {
    let mut cmd = topo.vpc().command(bin);
    cmd.args(["--server", &GW_LAN_IP.to_string()]).args(args);
    topo.vpc().spawn(cmd)
}

/// The arguments of a session as `user` that carries the internet host's network
/// (198.51.100.0/24) through its own TUN device `tclient0` and stays up until SIGTERM.
pub fn tunnel_args<'a>(user: &'a str, password: &'a str) -> [&'a str; 9] {
    [
        "--user",
        user,
        "--password",
        password,
        "--tun",
        "tclient0",
        "--route",
        "198.51.100.0/24",
        "--until-signal",
    ]
}

/// Starts a client with [`tunnel_args`] for `user` (see [`spawn`]) and waits for its
/// `PPTP-CLIENT tun` line: from then on its TUN device carries the tunnel's traffic.
pub fn spawn_tunnel(bin: &Path, topo: &Topology, user: &str, password: &str) -> Result<Process> {
    let client = spawn(bin, topo, &tunnel_args(user, password))?;
    wait_for_tunnel(&client, Duration::from_secs(20))?;
    Ok(client)
}

/// Waits up to `within` for the client's `PPTP-CLIENT tun` line (its TUN device is up and
/// routed).
pub fn wait_for_tunnel(client: &Process, within: Duration) -> Result<String> {
    client.wait_for_line(within, |l| l.starts_with("PPTP-CLIENT tun"))
}

/// Hangs the client up (SIGTERM, as pppd's user would) and returns its `PPTP-CLIENT down`
/// line, which says why the link ended.
pub fn hang_up(client: &Process) -> Result<String> {
    client.signal(Signal::SIGTERM);
    client.wait_for_line(Duration::from_secs(20), |l| {
        l.starts_with("PPTP-CLIENT down")
    })
}
