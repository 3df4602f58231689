//! Network namespaces from the benchmark's point of view: a thread enters one with `setns(2)`
//! so that the sockets it opens live there (a socket stays in the namespace it was created
//! in), and the receive-side steering (RPS, `/sys/class/net/DEV/queues/rx-N/rps_cpus`) that
//! decides which core processes the packets arriving on each veth. The optional tuned-NIC
//! model (interrupt coalescing, GRO for forwarded UDP) is `pptpd_tests::nic_tuning`.

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
