//! The standard test network: a gateway namespace between a private LAN and an
//! "internet" host that can only answer traffic the gateway NATs.
//!
//! ```text
//!  vpc  eth0 10.100.100.2/24 (.3, .4 ...)          inet eth0 198.51.100.2/24
//!        |                                               |   (no route back to the
//!  gw   lan0 ─┐                                          |    LAN or the client pool)
//!  (qemu tap0 ─┴─ br0 when both)  10.100.100.1/24   wan0 198.51.100.1/24
//!       default via 198.51.100.2 dev wan0 (so the egress interface is detectable)
//! ```
//! The gateway's IPv4 forwarding is left as the kernel makes it (off): enabling it
//! and NAT is the daemon's job. IPv6 is off in all three namespaces.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::netns::{Netns, cleanup_leftovers, scratch_prefix, veth_pair};

/// Prefix length of the LAN (10.100.100.0/24) and of the WAN (198.51.100.0/24).
pub const PREFIX_LEN: u8 = 24;
/// The LAN, as a CIDR.
pub const LAN_NET: &str = "10.100.100.0/24";
/// The gateway's LAN address: where the daemon listens on TCP 1723.
pub const GW_LAN_IP: Ipv4Addr = Ipv4Addr::new(10, 100, 100, 1);
/// The gateway's WAN address: the only source the internet host may see.
pub const GW_WAN_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The internet host.
pub const INET_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// The gateway's LAN interface when it is a plain veth to `vpc`.
pub const LAN_VETH: &str = "lan0";
/// The gateway's LAN bridge when the LAN has more than one port.
pub const LAN_BRIDGE: &str = "br0";
/// The gateway's WAN (egress) interface.
pub const WAN_DEV: &str = "wan0";
/// The LAN interface inside `vpc`, and the interface inside `inet`.
pub const HOST_DEV: &str = "eth0";

/// The address of LAN client `i` in the `vpc` namespace: 10.100.100.(2 + i).
pub fn client_ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 100, 100, 2u8.saturating_add(i))
}

/// The address a qemu guest on TAP `i` should use: 10.100.100.(20 + i).
pub fn guest_ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 100, 100, 20u8.saturating_add(i))
}

/// How to build a [`Topology`].
#[derive(Debug, Clone)]
pub struct TopologyBuilder {
    vpc_clients: u8,
    taps: u8,
    wan_checksums_in_software: bool,
}

impl Default for TopologyBuilder {
    fn default() -> Self {
        TopologyBuilder {
            vpc_clients: 1,
            taps: 0,
            wan_checksums_in_software: true,
        }
    }
}

impl TopologyBuilder {
    /// How many client addresses the `vpc` namespace gets ([`client_ip`] 0..n, all on
    /// its `eth0`); 0 means no `vpc` namespace at all. Default 1.
    pub fn vpc_clients(mut self, n: u8) -> Self {
        self.vpc_clients = n.min(17);
        self
    }

    /// How many TAP devices (`tap0`, `tap1` ...) the gateway gets for qemu guests.
    /// Default 0.
    pub fn taps(mut self, n: u8) -> Self {
        self.taps = n.min(8);
        self
    }

    /// Whether the gateway's WAN veth computes TCP/UDP checksums itself (`ethtool -K wan0
    /// tx off`), as a real NIC does in hardware. Default on: a veth otherwise passes a
    /// checksum the gateway left for the NIC to complete (the partial checksum of a
    /// coalesced train) on unchecked, so a wrong one would go unnoticed; with it on, the
    /// internet host verifies every checksum. Benchmarks turn it off, to measure a NIC
    /// that offloads the work.
    pub fn wan_checksums_in_software(mut self, on: bool) -> Self {
        self.wan_checksums_in_software = on;
        self
    }

    /// Creates the namespaces and links. Deletes the leftovers of dead test processes
    /// first (once per process).
    pub fn build(self) -> Result<Topology> {
        static CLEANED: OnceLock<()> = OnceLock::new();
        CLEANED.get_or_init(|| match cleanup_leftovers() {
            Ok(removed) if !removed.is_empty() => {
                eprintln!("pptpd-tests: removed leftover namespaces {removed:?}")
            }
            Ok(_) => {}
            Err(e) => eprintln!("pptpd-tests: could not clean up leftovers: {e}"),
        });
        if self.vpc_clients == 0 && self.taps == 0 {
            return Err(Error::InvalidArgument(
                "a topology needs a vpc namespace or a TAP".into(),
            ));
        }
        let workdir = tempfile::Builder::new()
            .prefix(&scratch_prefix())
            .tempdir()
            .map_err(|source| Error::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        let gw = Netns::new("gw")?;
        forget_stale_gateway_state(&gw);
        let inet = Netns::new("inet")?;
        let vpc = if self.vpc_clients > 0 {
            Some(Netns::new("vpc")?)
        } else {
            None
        };

        // WAN: gw wan0 <-> inet eth0; the gateway's default route points at inet.
        veth_pair(&gw, WAN_DEV, &inet, HOST_DEV)?;
        gw.add_address(WAN_DEV, &format!("{GW_WAN_IP}/{PREFIX_LEN}"))?;
        gw.link_up(WAN_DEV)?;
        inet.add_address(HOST_DEV, &format!("{INET_IP}/{PREFIX_LEN}"))?;
        inet.link_up(HOST_DEV)?;
        gw.add_route("default", INET_IP)?;
        if self.wan_checksums_in_software {
            gw.run(&["ethtool", "-K", WAN_DEV, "tx", "off"])?;
        }

        // LAN: one port carries the address itself; more share a bridge.
        let mut ports = Vec::new();
        if let Some(vpc) = &vpc {
            veth_pair(&gw, LAN_VETH, vpc, HOST_DEV)?;
            for i in 0..self.vpc_clients {
                vpc.add_address(HOST_DEV, &format!("{}/{PREFIX_LEN}", client_ip(i)))?;
            }
            vpc.link_up(HOST_DEV)?;
            ports.push(LAN_VETH.to_owned());
        }
        let taps: Vec<String> = (0..self.taps).map(|i| format!("tap{i}")).collect();
        for tap in &taps {
            gw.add_tap(tap)?;
            ports.push(tap.clone());
        }
        let lan_dev = match ports.as_slice() {
            [only] => only.clone(),
            _ => {
                gw.add_bridge(LAN_BRIDGE)?;
                for port in &ports {
                    gw.set_master(port, LAN_BRIDGE)?;
                }
                LAN_BRIDGE.to_owned()
            }
        };
        for port in &ports {
            gw.link_up(port)?;
        }
        gw.add_address(&lan_dev, &format!("{GW_LAN_IP}/{PREFIX_LEN}"))?;
        gw.link_up(&lan_dev)?;

        Ok(Topology {
            gw,
            vpc,
            inet,
            lan_dev,
            taps,
            vpc_clients: self.vpc_clients,
            workdir,
        })
    }
}

/// A state directory of the daemon ([`crate::gateway::state_dir`]) for a fresh namespace's
/// inode was left by an earlier namespace with the same inode (a gateway killed outright,
/// its namespace deleted since): it is not ours, and would be reported as a leftover.
fn forget_stale_gateway_state(ns: &Netns) {
    if let Some(dir) = crate::gateway::state_dir(ns) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The standard test network; every namespace in it is deleted on drop.
#[derive(Debug)]
pub struct Topology {
    gw: Netns,
    vpc: Option<Netns>,
    inet: Netns,
    lan_dev: String,
    taps: Vec<String>,
    vpc_clients: u8,
    workdir: tempfile::TempDir,
}

impl Topology {
    /// A builder; the default is one `vpc` client and no TAP.
    pub fn builder() -> TopologyBuilder {
        TopologyBuilder::default()
    }

    /// The default topology: `gw`, `inet`, and `vpc` with one client (10.100.100.2).
    pub fn new() -> Result<Topology> {
        Topology::builder().build()
    }

    /// The gateway namespace (where the daemon and qemu run).
    pub fn gw(&self) -> &Netns {
        &self.gw
    }

    /// The private LAN namespace. Panics if the topology was built without one.
    pub fn vpc(&self) -> &Netns {
        match &self.vpc {
            Some(vpc) => vpc,
            None => panic!("this topology was built with vpc_clients(0)"),
        }
    }

    /// The private LAN namespace, if there is one.
    pub fn try_vpc(&self) -> Option<&Netns> {
        self.vpc.as_ref()
    }

    /// The internet host's namespace.
    pub fn inet(&self) -> &Netns {
        &self.inet
    }

    /// The gateway's LAN device, the one holding [`GW_LAN_IP`]: `lan0`, `tap0` or `br0`.
    pub fn lan_dev(&self) -> &str {
        &self.lan_dev
    }

    /// The gateway's WAN (egress) device.
    pub fn wan_dev(&self) -> &str {
        WAN_DEV
    }

    /// The name of TAP `i` in the gateway. Panics if there is no such TAP.
    pub fn tap(&self, i: usize) -> &str {
        match self.taps.get(i) {
            Some(tap) => tap,
            None => panic!("this topology has {} TAP devices", self.taps.len()),
        }
    }

    /// The client addresses configured in `vpc`.
    pub fn client_ips(&self) -> Vec<Ipv4Addr> {
        (0..self.vpc_clients).map(client_ip).collect()
    }

    /// A scratch directory for logs, captures and configs; removed on drop.
    pub fn workdir(&self) -> &Path {
        self.workdir.path()
    }

    /// `name` inside [`Topology::workdir`].
    pub fn path(&self, name: &str) -> PathBuf {
        self.workdir.path().join(name)
    }

    /// The names of all namespaces of this topology.
    pub fn namespaces(&self) -> Vec<String> {
        [Some(&self.gw), self.vpc.as_ref(), Some(&self.inet)]
            .into_iter()
            .flatten()
            .map(|ns| ns.name().to_owned())
            .collect()
    }
}
