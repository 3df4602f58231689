//! poptop pptpd + pppd in a qemu guest: the stack pptpd-rs replaces, used as the
//! reference the stock-client harness is checked against (and a behaviour to compare
//! pptpd-rs with).
//!
//! [`ReferenceNetwork`] is its network: one namespace with a bridge joining the
//! server's LAN TAP and the client's TAP, and the server's WAN TAP holding the
//! internet host's address (with a route back to the PPP pool, since the reference
//! server forwards without NAT). [`ReferenceServer`] boots `tests/vm/server-vm.sh`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::netns::{Netns, scratch_prefix};
use crate::process::Process;
use crate::topology::{GW_LAN_IP, GW_WAN_IP, INET_IP, PREFIX_LEN, guest_ip};
use crate::vm::{ClientVmConfig, VM_DIR, guest_dir, kill_stray_qemu, qemu_pidfile, read_pid};

/// The server's PPP address (pptpd.conf `localip`).
pub const POOL_LOCAL_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// The first client address of the pool (pptpd.conf `remoteip 203.0.113.10-20`).
pub const POOL_FIRST_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// The pool as pptpd.conf's `remoteip` writes it.
pub const POOL_RANGE: &str = "203.0.113.10-20";
/// The pool as a route destination.
pub const POOL_NET: &str = "203.0.113.0/24";
/// How long the server may take to boot and start pptpd.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The reference network: a namespace in which the bridge `br0` joins the server's
/// LAN TAP `tap0` and the client TAP `tap1`, and `tapw` is the internet side
/// ([`INET_IP`], the server's WAN is [`GW_WAN_IP`]).
#[derive(Debug)]
pub struct ReferenceNetwork {
    ns: Netns,
    workdir: tempfile::TempDir,
}

impl ReferenceNetwork {
    /// The server's LAN TAP.
    pub const SERVER_LAN_TAP: &'static str = "tap0";
    /// The client guest's TAP.
    pub const CLIENT_TAP: &'static str = "tap1";
    /// The server's WAN TAP; the namespace's end of it is the internet host.
    pub const SERVER_WAN_TAP: &'static str = "tapw";

    /// Creates the namespace, TAPs and bridge.
    pub fn new() -> Result<ReferenceNetwork> {
        let ns = Netns::new("ref")?;
        ns.add_bridge("br0")?;
        for tap in [Self::SERVER_LAN_TAP, Self::CLIENT_TAP, Self::SERVER_WAN_TAP] {
            ns.add_tap(tap)?;
        }
        for tap in [Self::SERVER_LAN_TAP, Self::CLIENT_TAP] {
            ns.set_master(tap, "br0")?;
        }
        for dev in [
            "br0",
            Self::SERVER_LAN_TAP,
            Self::CLIENT_TAP,
            Self::SERVER_WAN_TAP,
        ] {
            ns.link_up(dev)?;
        }
        ns.add_address(Self::SERVER_WAN_TAP, &format!("{INET_IP}/{PREFIX_LEN}"))?;
        ns.add_route(POOL_NET, GW_WAN_IP)?;
        let workdir = tempfile::Builder::new()
            .prefix(&scratch_prefix())
            .tempdir()
            .map_err(|source| Error::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        Ok(ReferenceNetwork { ns, workdir })
    }

    /// `name` inside a scratch directory that is removed on drop.
    pub fn path(&self, name: &str) -> PathBuf {
        self.workdir.path().join(name)
    }

    /// The namespace (the internet host's services run here, on [`INET_IP`]).
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// A client guest configuration for this network: [`guest_ip`]`(0)` on the client
    /// TAP, logging in to the server's LAN address.
    pub fn client(&self, user: &str, pass: &str) -> ClientVmConfig {
        ClientVmConfig::new(
            &self.ns,
            Self::CLIENT_TAP,
            guest_ip(0),
            GW_LAN_IP,
            user,
            pass,
        )
    }
}

/// A running reference server guest; killed on drop.
#[derive(Debug)]
pub struct ReferenceServer {
    process: Process,
    pidfile: tempfile::TempPath,
}

impl ReferenceServer {
    /// Boots the server on `network` with the accounts `users` and returns once pptpd
    /// runs. Its LAN address is [`GW_LAN_IP`], its WAN address [`GW_WAN_IP`].
    pub fn boot(network: &ReferenceNetwork, users: &[(&str, &str)]) -> Result<ReferenceServer> {
        let guest = guest_dir()?;
        let pidfile = qemu_pidfile()?;
        let users = users
            .iter()
            .map(|(user, pass)| format!("{user}:{pass}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut cmd = Command::new("bash");
        cmd.arg(Path::new(VM_DIR).join("server-vm.sh"))
            .args(["--netns", network.ns.name()])
            .args(["--lan-tap", ReferenceNetwork::SERVER_LAN_TAP])
            .args(["--wan-tap", ReferenceNetwork::SERVER_WAN_TAP])
            .args(["--lan", &format!("{GW_LAN_IP}/{PREFIX_LEN}")])
            .args(["--wan", &format!("{GW_WAN_IP}/{PREFIX_LEN}")])
            .args(["--localip", &POOL_LOCAL_IP.to_string()])
            .args(["--remoteip", POOL_RANGE])
            .args(["--users", &users])
            .arg("--guest")
            .arg(&guest)
            .arg("--pidfile")
            .arg(&*pidfile);
        let process = Process::spawn("reference server", cmd)?;
        process.wait_for_line(READY_TIMEOUT, |l| l.contains("SERVER-READY"))?;
        Ok(ReferenceServer { process, pidfile })
    }

    /// The server's syslog so far (pptpd, pptpctrl and pppd's packet log).
    pub fn log(&self) -> Vec<String> {
        self.process
            .stdout_lines()
            .iter()
            .filter_map(|l| l.strip_prefix("srv: ").map(str::to_owned))
            .collect()
    }

    /// qemu's process ID, once qemu has written its pid file.
    pub fn qemu_pid(&self) -> Option<u32> {
        read_pid(&self.pidfile)
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        self.process.kill();
        kill_stray_qemu(&self.pidfile);
    }
}
