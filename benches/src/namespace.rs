//! Network namespaces from the benchmark's point of view: a thread enters one with `setns(2)`
//! so that the sockets it opens live there (a socket stays in the namespace it was created
//! in), the receive-side steering (RPS, `/sys/class/net/DEV/queues/rx-N/rps_cpus`) that
//! decides which core processes the packets arriving on each veth, and the optional software
//! interrupt coalescing of the gateway's veths (the kernel's `Documentation/networking/napi.rst`,
//! "Software IRQ coalescing") and GRO for forwarded UDP on its WAN veth
//! (`Documentation/networking/segmentation-offloads.rst`).

use std::fs::File;

use nix::sched::{CloneFlags, setns};
use pptpd_tests::{Netns, Topology};

use crate::cpu::{GATEWAY_CORE, TRAFFIC_CORE};
use crate::error::{BenchError, Result};

/// Moves the calling thread into `ns` (for good: the thread's later sockets are created there).
pub fn enter(ns: &Netns) -> Result<()> {
    enter_named(ns.name())
}

/// [`enter`] for a thread that does not hold the [`Netns`]: call the returned function on it.
pub fn entry(ns: &Netns) -> impl FnOnce() -> Result<()> + Send + 'static {
    let name = ns.name().to_owned();
    move || enter_named(&name)
}

fn enter_named(name: &str) -> Result<()> {
    let path = format!("/run/netns/{name}");
    let file = File::open(&path).map_err(|e| BenchError::io(&path, e))?;
    setns(&file, CloneFlags::CLONE_NEWNET)
        .map_err(|e| BenchError::system(format!("enter namespace {name}"), e))
}

/// Runs `f` with the calling thread inside `ns`, then moves the thread back.
pub fn within<T>(ns: &Netns, f: impl FnOnce() -> T) -> Result<T> {
    let home_path = "/proc/thread-self/ns/net";
    let home = File::open(home_path).map_err(|e| BenchError::io(home_path, e))?;
    enter(ns)?;
    let value = f();
    setns(&home, CloneFlags::CLONE_NEWNET)
        .map_err(|e| BenchError::system("return to the benchmark's namespace", e))?;
    Ok(value)
}

/// The hexadecimal CPU mask of `cores`, as `rps_cpus` takes it.
pub fn cpu_mask(cores: &[usize]) -> String {
    let mask = cores
        .iter()
        .filter(|&&c| c < 64)
        .fold(0u64, |mask, &c| mask | 1 << c);
    format!("{mask:x}")
}

/// Steers the receive processing of `dev` in `ns` to `cores` (every receive queue).
pub fn set_rps(ns: &Netns, dev: &str, cores: &[usize]) -> Result<()> {
    // `ip netns exec` mounts the namespace's own /sys, where its devices are.
    let script = format!(
        "for q in /sys/class/net/{dev}/queues/rx-*; do echo {} > $q/rps_cpus; done",
        cpu_mask(cores)
    );
    ns.run(&["sh", "-c", &script])?;
    Ok(())
}

/// Models separate machines on the two cores: what arrives on the gateway's veths (`lan0`,
/// `wan0`) is processed on `gateway_cores`, what arrives in the client LAN and on the internet
/// host on the traffic core.
pub fn steer_receive_processing(topology: &Topology, gateway_cores: &[usize]) -> Result<()> {
    set_rps(topology.gw(), topology.lan_dev(), gateway_cores)?;
    set_rps(topology.gw(), topology.wan_dev(), gateway_cores)?;
    set_rps(
        topology.vpc(),
        pptpd_tests::topology::HOST_DEV,
        &[TRAFFIC_CORE],
    )?;
    set_rps(
        topology.inet(),
        pptpd_tests::topology::HOST_DEV,
        &[TRAFFIC_CORE],
    )?;
    Ok(())
}

/// Empty polls before a coalesced veth takes interrupts again (`napi_defer_hard_irqs`).
pub const DEFERRED_POLLS: u32 = 2;

/// Models gateway NICs whose interrupts are coalesced in software for `micros` µs: the
/// gateway's `lan0` and `wan0` poll with NAPI, and after a poll that found packets the next
/// one waits for a `gro_flush_timeout` timer instead of an interrupt, up to
/// [`DEFERRED_POLLS`] empty polls. An operator sets the same two files on a real NIC. Without
/// it every packet that finds the gateway's queue empty costs an inter-core interrupt.
pub fn coalesce_interrupts(topology: &Topology, micros: u32) -> Result<()> {
    let gw = topology.gw();
    for dev in [topology.lan_dev(), topology.wan_dev()] {
        // A veth polls with NAPI only while GRO is on (it merges no GRE, and no forwarded
        // UDP without `rx-udp-gro-forwarding`).
        gw.run(&["ethtool", "-K", dev, "gro", "on"])?;
        let script = format!(
            "echo {DEFERRED_POLLS} > /sys/class/net/{dev}/napi_defer_hard_irqs && \
             echo {} > /sys/class/net/{dev}/gro_flush_timeout",
            u64::from(micros) * 1000
        );
        gw.run(&["sh", "-c", &script])?;
    }
    // ... and the sending veth queues a packet for NAPI only when it has no TSO (the kernel's
    // `veth_skb_is_eligible_for_gro`); else the packet is received at once, as before.
    let senders = [topology.try_vpc(), Some(topology.inet())];
    for ns in senders.into_iter().flatten() {
        ns.run(&[
            "ethtool",
            "-K",
            pptpd_tests::topology::HOST_DEV,
            "tso",
            "off",
        ])?;
    }
    Ok(())
}

/// Models a gateway NIC with GRO for forwarded UDP (`rx-udp-gro-forwarding`, an operator's
/// `ethtool -K eth0 rx-udp-gro-forwarding on`): the datagrams of one flow that `wan0` takes in
/// one poll are merged into a train, which the kernel routes and NATs once and pptpd-rs reads
/// from its TUN device in one read. Needs [`coalesce_interrupts`] first: a veth merges only
/// within a NAPI poll, and without the timer each of its polls holds one packet.
pub fn merge_forwarded_udp(topology: &Topology) -> Result<()> {
    topology.gw().run(&[
        "ethtool",
        "-K",
        topology.wan_dev(),
        "rx-udp-gro-forwarding",
        "on",
    ])?;
    Ok(())
}

/// The gateway core alone, the usual steering.
pub const GATEWAY_ONLY: &[usize] = &[GATEWAY_CORE];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_hexadecimal_bit_sets() {
        assert_eq!(cpu_mask(&[0]), "1");
        assert_eq!(cpu_mask(&[1]), "2");
        assert_eq!(cpu_mask(&[0, 1]), "3");
        assert_eq!(cpu_mask(&[4, 7]), "90");
    }
}
