//! pptpd-rs as the benchmark runs it: a large address pool, room for 11,000 connections, no
//! LCP echoes (idle sessions need no answers), no debug log, `workers N`; started in the
//! gateway namespace pinned to its cores, and stopped with a check that it cleaned up.
//! Also the kernel-forwarding set-up of limit (a): forwarding and a masquerade rule, no
//! pptpd-rs.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use pptpd_tests::gateway::{Gateway, GatewayConfig, leftovers};
use pptpd_tests::{Netns, Topology};

use crate::cpu::{TRAFFIC_CORE, pin_current_thread, pin_process};
use crate::error::{BenchError, Result};

/// The client address pool: 10,240 addresses.
pub const POOL: &str = "10.64.0.1-10.64.39.255";
/// The connection limit.
pub const CONNECTIONS: u32 = 11_000;

/// The configuration of a benchmark gateway with `workers` data-path workers and the
/// operator's `extra` pptpd.conf lines (`--gateway-conf`).
pub fn config(workers: usize, extra: &[String]) -> GatewayConfig {
    let config = GatewayConfig {
        remoteip: POOL.into(),
        connections: CONNECTIONS,
        debug: false,
        ..GatewayConfig::default()
    }
    .conf(&format!("workers {workers}"))
    .option("lcp-echo-interval 0");
    extra.iter().fold(config, |config, line| config.conf(line))
}

/// Starts `bin` in the gateway namespace with its configuration in the work directory's
/// `name` subdirectory, every thread pinned to `cores`; the benchmark's own threads go back to
/// the traffic core.
pub fn start(
    bin: &Path,
    extra_conf: &[String],
    topology: &Topology,
    name: &str,
    workers: usize,
    cores: &[usize],
) -> Result<Gateway> {
    let dir = topology.path(name);
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::io(&dir, e))?;
    // The child inherits the affinity of the thread that starts it.
    pin_current_thread(cores)?;
    let started = Gateway::start(bin, topology.gw(), &dir, &config(workers, extra_conf));
    pin_current_thread(&[TRAFFIC_CORE])?;
    let gateway = started?;
    pin_process(gateway.pid(), cores)?;
    pin_process(std::process::id(), &[TRAFFIC_CORE])?;
    Ok(gateway)
}

/// Stops the gateway with SIGTERM and returns what went wrong: a bad exit, or rules, routes
/// or devices it left behind.
pub fn stop(mut gateway: Gateway, gw: &Netns) -> Vec<String> {
    let mut problems = Vec::new();
    match gateway.stop(Signal::SIGTERM, Duration::from_secs(20)) {
        Ok((status, _)) if status.success() => {}
        Ok((status, _)) => problems.push(format!("the gateway exited with {status}")),
        Err(e) => problems.push(format!("the gateway did not stop: {e}")),
    }
    match leftovers(gw) {
        Ok(left) if left.is_empty() => {}
        Ok(left) => problems.push(format!("the gateway left behind {left:?}")),
        Err(e) => problems.push(format!("cannot list the gateway's leftovers: {e}")),
    }
    problems
}

/// The nft table of the kernel-forwarding limit.
const KERNEL_TABLE: &str = "pptpd_bench";

/// Turns the gateway namespace into a plain NAT router for the client LAN: forwarding on, a
/// masquerade rule for `lan` leaving through `wan`, and in the client LAN a route to the
/// internet host's network `internet` through the gateway (`via`).
pub fn enable_kernel_forwarding(
    topology: &Topology,
    lan: &str,
    internet: &str,
    via: std::net::Ipv4Addr,
) -> Result<()> {
    let (gw, wan) = (topology.gw(), topology.wan_dev());
    topology.vpc().add_route(internet, via)?;
    gw.set_sysctl("net.ipv4.ip_forward", "1")?;
    let script = format!(
        "add table ip {KERNEL_TABLE}\n\
         add chain ip {KERNEL_TABLE} postrouting {{ type nat hook postrouting priority 100; }}\n\
         add rule ip {KERNEL_TABLE} postrouting ip saddr {lan} oifname \"{wan}\" masquerade\n"
    );
    gw.run(&["sh", "-c", &format!("printf '%s' '{script}' | nft -f -")])?;
    Ok(())
}

/// Undoes [`enable_kernel_forwarding`].
pub fn disable_kernel_forwarding(topology: &Topology, internet: &str) -> Result<()> {
    let gw = topology.gw();
    let _ = topology.vpc().ip(&["route", "del", internet]);
    let _ = gw.run(&["nft", "delete", "table", "ip", KERNEL_TABLE]);
    gw.set_sysctl("net.ipv4.ip_forward", "0")?;
    // Forget the NAT mappings, so the gateway starts from a clean table.
    let _ = gw.run(&[
        "sh",
        "-c",
        "command -v conntrack >/dev/null && conntrack -F",
    ]);
    Ok(())
}
