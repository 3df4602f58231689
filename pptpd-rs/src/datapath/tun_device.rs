//! The TUN device (`pptp0` by default): the daemon's interface to the host's
//! IP stack, in layer-3 mode without packet information (IFF_NO_PI).
//!
//! It is created multi-queue (IFF_MULTI_QUEUE) with one queue per data-path
//! worker, so that each worker reads and writes its own file descriptor and no
//! two threads share one. The kernel spreads packets leaving through the device
//! over the queues by flow hash and remembers, per flow, the queue that last
//! wrote a packet of it; since a flow's upstream packets are written by the
//! worker that owns its session, the replies mostly come back to that worker.
//! The device is not persistent: it vanishes, with its addresses and routes,
//! when the process exits, even after SIGKILL.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use tun_rs::{DeviceBuilder, SyncDevice};

/// One queue of the TUN device, owned by one worker.
pub struct TunQueue {
    device: SyncDevice,
}

impl TunQueue {
    /// Reads one IP packet without blocking; `Ok(None)` when none waits.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.device.recv(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes one IP packet; a full device queue drops it (`Ok(false)`).
    pub fn send(&self, packet: &[u8]) -> io::Result<bool> {
        match self.device.send(packet) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl AsRawFd for TunQueue {
    fn as_raw_fd(&self) -> RawFd {
        self.device.as_raw_fd()
    }
}

impl AsFd for TunQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.device.as_fd()
    }
}

/// Creates the TUN device `name` with `queues` queues, brought up with `mtu`.
///
/// The device has no address yet; [`crate::routes::Routes`] adds the local
/// addresses and the client routes.
pub fn create(name: &str, mtu: u16, queues: usize) -> io::Result<Vec<TunQueue>> {
    let queues = queues.max(1);
    let device = DeviceBuilder::new()
        .name(name)
        .mtu(mtu)
        .multi_queue(true)
        .packet_information(false)
        .enable(true)
        .build_sync()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create TUN device {name}: {e}")))?;
    // The tunnel carries IPv4 only (IPV6CP is refused): keep the kernel from sending
    // router solicitations and the like into it.
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
    let mut out = Vec::with_capacity(queues);
    for _ in 1..queues {
        let extra = device.try_clone()?;
        extra.set_nonblocking(true)?;
        out.push(TunQueue { device: extra });
    }
    device.set_nonblocking(true)?;
    out.insert(0, TunQueue { device });
    Ok(out)
}
