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
//!
//! With offload on (`tun-offload yes`), the device carries virtio-net headers
//! (IFF_VNET_HDR) and announces checksum, TSO and USO offloads: the kernel may
//! hand us one large TCP or UDP segment train per read, which is split into
//! packets here, and the packets we write are coalesced per flow (GRO) into as
//! few writes as the kernel accepts. Both cut the system calls and the kernel's
//! per-packet work; some kernels mishandle large offloaded writes, hence the
//! switch.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use tun_rs::{DeviceBuilder, GROTable, SyncDevice, VIRTIO_NET_HDR_LEN};

/// The largest packet a read can return with offload (a 64 KiB segment train).
const OFFLOAD_READ_SIZE: usize = VIRTIO_NET_HDR_LEN + 65535;

/// Capacity of a write buffer: the virtio-net header twice (tun-rs's margin) and a 64 KiB
/// train of coalesced segments.
const COALESCE_CAPACITY: usize = 2 * VIRTIO_NET_HDR_LEN + 65535;

/// What the offload mode keeps between calls: allocated once.
struct Offload {
    read_buf: Box<[u8]>,
    gro: GROTable,
    pending: Vec<Vec<u8>>,
    used: usize,
}

/// One queue of the TUN device, owned by one worker.
pub struct TunQueue {
    device: SyncDevice,
    offload: Option<Box<Offload>>,
}

impl TunQueue {
    /// Whether this queue uses virtio-net headers and offloads.
    pub fn offload(&self) -> bool {
        self.offload.is_some()
    }

    /// Reads one IP packet without blocking into `buf` (plain mode only);
    /// `Ok(None)` when none waits.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        would_block_is_none(self.device.recv(buf))
    }

    /// Reads what one read returns — one packet, or with offload a segment
    /// train split into packets — into `bufs[i][offset..offset + sizes[i]]`.
    /// Returns how many; 0 when nothing waits.
    pub fn recv_batch(
        &mut self,
        bufs: &mut [&mut [u8]],
        sizes: &mut [usize],
        offset: usize,
    ) -> io::Result<usize> {
        match &mut self.offload {
            None => {
                let Some(buf) = bufs.first_mut().and_then(|b| b.get_mut(offset..)) else {
                    return Ok(0);
                };
                match would_block_is_none(self.device.recv(buf))? {
                    Some(n) => {
                        sizes[0] = n;
                        Ok(1)
                    }
                    None => Ok(0),
                }
            }
            Some(o) => {
                let n = would_block_is_none(self.device.recv_multiple(
                    &mut o.read_buf,
                    bufs,
                    sizes,
                    offset,
                ))?;
                Ok(n.unwrap_or(0))
            }
        }
    }

    /// Hands one IP packet to the kernel: written at once in plain mode, queued
    /// for [`flush`](Self::flush) with offload. A full device queue drops it.
    pub fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        let Some(o) = &mut self.offload else {
            return match self.device.send(packet) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
                _ => Ok(()),
            };
        };
        if o.used == o.pending.len() {
            // Room for a whole coalesced train: tun-rs's GRO only appends to a buffer whose
            // capacity already holds it (pages are touched only as far as trains grow).
            o.pending.push(Vec::with_capacity(COALESCE_CAPACITY));
        }
        let buf = &mut o.pending[o.used];
        buf.clear();
        buf.resize(VIRTIO_NET_HDR_LEN, 0);
        buf.extend_from_slice(packet);
        o.used += 1;
        if o.used >= tun_rs::IDEAL_BATCH_SIZE {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the packets queued with offload, coalesced per flow.
    pub fn flush(&mut self) -> io::Result<()> {
        let Some(o) = &mut self.offload else {
            return Ok(());
        };
        if o.used == 0 {
            return Ok(());
        }
        let used = std::mem::take(&mut o.used);
        let result =
            self.device
                .send_multiple(&mut o.gro, &mut o.pending[..used], VIRTIO_NET_HDR_LEN);
        match result {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }
}

fn would_block_is_none<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
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

/// Creates the TUN device `name` with `queues` queues, brought up with `mtu`,
/// with virtio-net headers and offloads when `offload` is set.
///
/// The device has no address yet; [`crate::routes::Routes`] adds the local
/// addresses and the client routes.
pub fn create(name: &str, mtu: u16, queues: usize, offload: bool) -> io::Result<Vec<TunQueue>> {
    let queues = queues.max(1);
    let device = DeviceBuilder::new()
        .name(name)
        .mtu(mtu)
        .multi_queue(true)
        .offload(offload)
        .packet_information(false)
        .enable(true)
        .build_sync()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create TUN device {name}: {e}")))?;
    // The tunnel carries IPv4 only (IPV6CP is refused): keep the kernel from sending
    // router solicitations and the like into it.
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
    let mut devices = Vec::with_capacity(queues);
    for _ in 1..queues {
        devices.push(device.try_clone()?);
    }
    devices.insert(0, device);
    devices
        .into_iter()
        .map(|device| {
            device.set_nonblocking(true)?;
            let offload = offload.then(|| {
                Box::new(Offload {
                    read_buf: vec![0u8; OFFLOAD_READ_SIZE].into_boxed_slice(),
                    gro: GROTable::new(),
                    pending: Vec::new(),
                    used: 0,
                })
            });
            Ok(TunQueue { device, offload })
        })
        .collect()
}
