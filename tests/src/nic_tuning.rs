//! The gateway's devices tuned as an operator tunes a NIC for throughput (README, "Throughput
//! tuning"), on the veths of a [`Topology`]: software interrupt coalescing (the kernel's
//! `Documentation/networking/napi.rst`, "Software IRQ coalescing") and GRO for forwarded UDP
//! (`Documentation/networking/segmentation-offloads.rst`). Used by the benchmark's model of a
//! tuned NIC and by the end-to-end test of merged downloads.

use crate::Result;
use crate::topology::{HOST_DEV, Topology};

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
        ns.run(&["ethtool", "-K", HOST_DEV, "tso", "off"])?;
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
