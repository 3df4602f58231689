//! A TUN device bridged to a [`Tunnel`], so that ordinary kernel TCP, UDP and ping run over the
//! PPTP tunnel: the device plays the part of pppd's `ppp0` (layer 3, no packet information,
//! our address with the server's PPP address as point-to-point peer, the link's MTU), and a
//! task forwards IPv4 datagrams both ways until the tunnel ends or is hung up.
//!
//! Addresses and routes are set with `ip` (iproute2) in the current network namespace; the
//! device is not persistent, so it vanishes with its addresses and routes when the bridge is
//! dropped or the process exits.

use std::fmt;
use std::net::Ipv4Addr;
use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tun_rs::{AsyncDevice, DeviceBuilder};

use crate::closure::Closure;
use crate::error::ClientError;
use crate::session::LinkInfo;
use crate::tunnel::Tunnel;

/// An IPv4 prefix to route through the tunnel, e.g. `198.51.100.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoutePrefix {
    /// The network address.
    pub network: Ipv4Addr,
    /// The prefix length, 0 to 32.
    pub len: u8,
}

/// A route prefix that is not `a.b.c.d/len`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an IPv4 prefix (a.b.c.d/len): {0:?}")]
pub struct BadRoutePrefix(pub String);

impl FromStr for RoutePrefix {
    type Err = BadRoutePrefix;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadRoutePrefix(text.to_owned());
        let (network, len) = match text.split_once('/') {
            Some((network, len)) => (network, len.parse::<u8>().map_err(|_| bad())?),
            None => (text, 32),
        };
        let network: Ipv4Addr = network.parse().map_err(|_| bad())?;
        if len > 32 {
            return Err(bad());
        }
        Ok(RoutePrefix { network, len })
    }
}

impl fmt::Display for RoutePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

/// How to set up the TUN device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The device name, e.g. `tclient0`.
    pub name: String,
    /// Prefixes to route through the tunnel.
    pub routes: Vec<RoutePrefix>,
    /// The device MTU; by default the link's (what pppd gives `ppp0`).
    pub mtu: Option<u16>,
}

impl BridgeConfig {
    /// A device called `name` with no extra routes and the link's MTU.
    pub fn new(name: &str) -> Self {
        BridgeConfig {
            name: name.to_owned(),
            routes: Vec::new(),
            mtu: None,
        }
    }
}

/// Datagrams forwarded so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// From the TUN device into the tunnel.
    pub to_tunnel: u64,
    /// From the tunnel to the TUN device.
    pub from_tunnel: u64,
    /// Read from the device but not forwarded (not IPv4, or the tunnel refused them).
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    to_tunnel: AtomicU64,
    from_tunnel: AtomicU64,
    dropped: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A TUN device forwarding to and from a tunnel.
#[derive(Debug)]
pub struct TunBridge {
    name: String,
    info: LinkInfo,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Tunnel>,
    stopped: Option<Tunnel>,
}

impl TunBridge {
    /// Creates the device, gives it the tunnel's addresses (`ip addr add LOCAL peer PEER/32`),
    /// adds the routes and starts forwarding.
    pub async fn start(tunnel: Tunnel, config: BridgeConfig) -> Result<TunBridge, ClientError> {
        let info = tunnel.info();
        let mtu = config.mtu.unwrap_or(info.mtu);
        let device = DeviceBuilder::new()
            .name(&config.name)
            .mtu(mtu)
            .packet_information(false)
            .enable(true)
            .build_async()?;
        let name = config.name.clone();
        // No IPv6 on the device: the tunnel carries IPv4 only (pppd without +ipv6).
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
        ip(&[
            "addr",
            "add",
            &info.local.to_string(),
            "peer",
            &format!("{}/32", info.peer),
            "dev",
            &name,
        ])?;
        for route in &config.routes {
            ip(&["route", "replace", &route.to_string(), "dev", &name])?;
        }
        let counters = Arc::new(Counters::default());
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(forward(tunnel, device, stop_rx, Arc::clone(&counters)));
        Ok(TunBridge {
            name,
            info,
            counters,
            stop: Some(stop),
            task,
            stopped: None,
        })
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tunnel's addresses and MTU.
    pub fn info(&self) -> LinkInfo {
        self.info
    }

    /// Datagrams forwarded so far.
    pub fn stats(&self) -> BridgeStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BridgeStats {
            to_tunnel: load(&self.counters.to_tunnel),
            from_tunnel: load(&self.counters.from_tunnel),
            dropped: load(&self.counters.dropped),
        }
    }

    /// Waits until the tunnel ends by itself (the server shut it down) and says how.
    /// Cancel-safe.
    pub async fn closed(&mut self) -> Closure {
        if self.stopped.is_none() {
            match (&mut self.task).await {
                Ok(tunnel) => self.stopped = Some(tunnel),
                Err(_) => return crate::tunnel::lost_driver_closure(),
            }
        }
        match &mut self.stopped {
            Some(tunnel) => tunnel.closed().await,
            None => crate::tunnel::lost_driver_closure(),
        }
    }

    /// Stops forwarding, hangs the tunnel up (as [`Tunnel::hang_up`]) and removes the device.
    pub async fn hang_up(mut self) -> Closure {
        let tunnel = match self.stopped.take() {
            Some(tunnel) => tunnel,
            None => {
                if let Some(stop) = self.stop.take() {
                    let _ = stop.send(());
                }
                match (&mut self.task).await {
                    Ok(tunnel) => tunnel,
                    Err(_) => return crate::tunnel::lost_driver_closure(),
                }
            }
        };
        tunnel.hang_up().await
    }
}

impl Drop for TunBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `ip ARGS...`.
fn ip(args: &[&str]) -> Result<(), ClientError> {
    let output = Command::new("ip").args(args).output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(ClientError::Io(std::io::Error::other(format!(
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    ))))
}

/// Forwards both ways until the tunnel ends or `stop` fires; gives the tunnel back.
async fn forward(
    mut tunnel: Tunnel,
    device: AsyncDevice,
    mut stop: oneshot::Receiver<()>,
    counters: Arc<Counters>,
) -> Tunnel {
    let sender = tunnel.sender();
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            _ = &mut stop => break,
            packet = tunnel.recv_ip() => {
                let Some(packet) = packet else { break };
                match device.send(&packet).await {
                    Ok(_) => bump(&counters.from_tunnel),
                    Err(error) => {
                        tracing::debug!(%error, "TUN write failed");
                        bump(&counters.dropped);
                    }
                }
            }
            read = device.recv(&mut buf) => {
                let len = match read {
                    Ok(len) => len,
                    Err(error) => {
                        tracing::warn!(%error, "TUN read failed");
                        break;
                    }
                };
                let packet = buf.get(..len).unwrap_or_default();
                if packet.first().map(|byte| byte >> 4) != Some(4) {
                    bump(&counters.dropped);
                    continue;
                }
                match sender.send_ip(packet).await {
                    Ok(()) => bump(&counters.to_tunnel),
                    Err(_) => bump(&counters.dropped),
                }
            }
        }
    }
    tunnel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_prefixes_parse_and_print() {
        let prefix: RoutePrefix = "198.51.100.0/24".parse().unwrap();
        assert_eq!(
            prefix,
            RoutePrefix {
                network: Ipv4Addr::new(198, 51, 100, 0),
                len: 24
            }
        );
        assert_eq!(prefix.to_string(), "198.51.100.0/24");
        assert_eq!(
            "10.1.2.3".parse::<RoutePrefix>().unwrap().to_string(),
            "10.1.2.3/32"
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "x/1",
            "10.0.0.0/-1",
            "10.0.0.0/",
        ] {
            assert!(bad.parse::<RoutePrefix>().is_err(), "{bad}");
        }
    }
}
