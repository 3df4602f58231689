//! The TUN device (`pptp0` by default): the daemon's interface to the host's
//! IP stack, in layer-3 mode without packet information (IFF_NO_PI).
//!
//! It is created multi-queue (IFF_MULTI_QUEUE) with one queue per data-path
//! worker, so that each worker reads and writes its own file descriptor and no
//! two threads share one. A steering program ([`super::tun_steering`]) sends each
//! packet leaving through the device to the queue of the worker that owns its
//! destination's session. Without it (no CAP_BPF) the kernel spreads them over
//! the queues by a flow hash computed for every packet, and remembers,
//! per flow, the queue that last wrote a packet of it; since a flow's upstream
//! packets are written by the worker that owns its session, the replies mostly
//! come back to that worker.
//! The device is not persistent: it vanishes, with its addresses and routes,
//! when the process exits, even after SIGKILL.
//!
//! With offload on (`tun-offload yes`), the device carries virtio-net headers
//! (IFF_VNET_HDR) and announces checksum, TSO and USO offloads: the kernel may
//! hand us one large TCP or UDP segment train per read, which is split into
//! packets ([`super::tun_read`]; a lone packet is encrypted from where the read put it), and
//! the packets we write are coalesced per flow into trains
//! ([`super::tun_coalesce`]), one write each. Both cut the system calls and the
//! kernel's per-packet work; some kernels mishandle large offloaded writes, hence
//! the switch.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use tun_rs::{DeviceBuilder, SyncDevice};

use super::raw_syscall;
use super::tun_coalesce::{VIRTIO_NET_HDR_LEN, WriteCoalescer};
use super::tun_read::{self, SplitSlots, TunRead, TunReadError};

/// Why a read from an offload queue gave no packets.
#[derive(Debug, thiserror::Error)]
pub enum TunRecvError {
    /// The read failed.
    #[error("{0}")]
    Io(io::Error),
    /// The read held something malformed; it was dropped.
    #[error("{0}")]
    Malformed(TunReadError),
}

/// The largest packet a read can return with offload (a 64 KiB segment train).
const OFFLOAD_READ_SIZE: usize = VIRTIO_NET_HDR_LEN + 65535;

/// Packets the kernel may queue on each TUN queue for us to read (the default 500 overflows
/// in bursts when two workers share the cores with other work).
const TX_QUEUE_LEN: u32 = 4096;

/// Packets queued for one coalescing write round (one GRE batch).
const MAX_PENDING_WRITES: usize = 64;

/// What the offload mode keeps between calls: allocated once.
struct Offload {
    read_buf: Box<[u8]>,
    writes: WriteCoalescer,
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
        would_block_is_none(raw_syscall::read(self.as_raw_fd(), buf))
    }

    /// Reads once without blocking (offload mode only): a lone packet stays in the queue's
    /// read buffer ([`read_packet`](Self::read_packet) finds it, nothing is copied), a
    /// segment train is split into `slots`. `Ok(None)` when
    /// nothing waits; a malformed read is an error of its own and the next read goes on.
    pub fn recv_offload(&mut self, slots: SplitSlots<'_>) -> Result<Option<TunRead>, TunRecvError> {
        let Some(o) = &mut self.offload else {
            return Ok(None);
        };
        let read = raw_syscall::read(self.device.as_raw_fd(), &mut o.read_buf);
        let Some(n) = would_block_is_none(read).map_err(TunRecvError::Io)? else {
            return Ok(None);
        };
        let read = o.read_buf.get_mut(..n).unwrap_or_default();
        tun_read::take(read, slots)
            .map(Some)
            .map_err(TunRecvError::Malformed)
    }

    /// The lone packet of `len` bytes that the last [`recv_offload`](Self::recv_offload)
    /// left in the read buffer.
    pub fn read_packet(&self, len: usize) -> Option<&[u8]> {
        tun_read::packet(&self.offload.as_ref()?.read_buf, len)
    }

    /// Hands one IP packet to the kernel: written at once in plain mode, queued
    /// for [`flush`](Self::flush) with offload. A full device queue drops it.
    pub fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        let Some(o) = &mut self.offload else {
            return match raw_syscall::write(self.device.as_raw_fd(), packet) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
                _ => Ok(()),
            };
        };
        o.writes.push(packet);
        if o.writes.is_full() {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the packets queued with offload, coalesced per flow, one write per train.
    /// Every train is tried; the first error other than a full queue is returned.
    pub fn flush(&mut self) -> io::Result<()> {
        let Some(o) = &mut self.offload else {
            return Ok(());
        };
        let mut first_error = None;
        let fd = self.device.as_raw_fd();
        o.writes.drain(|train| {
            if let Err(e) = raw_syscall::write(fd, train)
                && e.kind() != io::ErrorKind::WouldBlock
            {
                first_error.get_or_insert(e);
            }
        });
        first_error.map_or(Ok(()), Err)
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
        .tx_queue_len(TX_QUEUE_LEN)
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
                    writes: WriteCoalescer::new(MAX_PENDING_WRITES),
                })
            });
            Ok(TunQueue { device, offload })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::frame_socket::test_devices::in_private_namespace;
    use std::process::Command;

    /// An IPv4/UDP packet of `size` bytes from 10.9.0.2:4000 to 10.9.0.1:5000 with valid checksums.
    fn udp_packet(id: u16, size: usize) -> Vec<u8> {
        fn sum(data: &[u8], mut acc: u32) -> u32 {
            for pair in data.chunks(2) {
                acc += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
            }
            acc
        }
        fn fold(mut acc: u32) -> u16 {
            while acc > 0xffff {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            !(acc as u16)
        }
        let mut p = vec![0u8; size];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(size as u16).to_be_bytes());
        p[4..6].copy_from_slice(&id.to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 9, 0, 2]);
        p[16..20].copy_from_slice(&[10, 9, 0, 1]);
        let header = fold(sum(&p[..20], 0));
        p[10..12].copy_from_slice(&header.to_be_bytes());
        p[20..22].copy_from_slice(&4000u16.to_be_bytes());
        p[22..24].copy_from_slice(&5000u16.to_be_bytes());
        p[24..26].copy_from_slice(&((size - 20) as u16).to_be_bytes());
        for (i, b) in p[28..].iter_mut().enumerate() {
            *b = (i as u8) ^ (id as u8);
        }
        let pseudo = sum(&p[12..20], 17 + (size as u32 - 20));
        let udp = fold(sum(&p[20..], pseudo));
        p[26..28].copy_from_slice(&udp.to_be_bytes());
        p
    }

    /// An IPv4/TCP segment (ACK) of `len` payload bytes at `seq` from 10.9.0.2:4000 to
    /// 10.9.0.1:5000 with valid checksums, rebuilt from [`udp_packet`]'s headers.
    fn tcp_segment(seq: u32, len: usize) -> Vec<u8> {
        let mut p = udp_packet(0, 20 + 20 + len);
        p[9] = 6;
        p[10..12].fill(0);
        let mut ip = crate::datapath::checksum::Checksum::new();
        ip.add_bytes(&p[..20]);
        p[10..12].copy_from_slice(&ip.checksum());
        let mut sum = crate::datapath::checksum::Checksum::ipv4_pseudo_header(&p, 6, 20 + len);
        let tcp = &mut p[20..];
        tcp[..20].fill(0);
        tcp[0..2].copy_from_slice(&4000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&5000u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&1u32.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x10;
        tcp[14..16].copy_from_slice(&502u16.to_be_bytes());
        sum.add_bytes(tcp);
        let check = sum.checksum();
        tcp[16..18].copy_from_slice(&check);
        p
    }

    /// (packets, bytes) the kernel received from the device, as `ip -s link` reports them.
    fn rx_counters(name: &str) -> (u64, u64) {
        let out = Command::new("ip")
            .args(["-s", "-o", "link", "show", name])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let fields: Vec<&str> = text.split_whitespace().collect();
        let at = fields.iter().position(|f| *f == "RX:").unwrap();
        // "RX: bytes packets errors ... \ BYTES PACKETS ..."
        let values: Vec<u64> = fields[at..].iter().filter_map(|f| f.parse().ok()).collect();
        (values[1], values[0])
    }

    /// With offload, long runs of one UDP flow, and of one TCP flow, are coalesced into
    /// trains the kernel accepts: every byte arrives (a train the kernel finds wrong, such
    /// as one of too many segments, would be refused whole). Runs in a private network
    /// namespace of this thread.
    #[test]
    fn our_virtio_net_header_is_the_one_tun_rs_reads() {
        assert_eq!(VIRTIO_NET_HDR_LEN, tun_rs::VIRTIO_NET_HDR_LEN);
    }

    #[test]
    fn coalesced_writes_of_one_flow_all_reach_the_kernel() {
        in_private_namespace(|| {
            let mut queues = create("gro0", 1400, 1, true).unwrap();
            let queue = &mut queues[0];
            assert!(queue.offload());
            let mut expected = 0u64;
            for size in [64usize, 1400] {
                for id in 0..500u16 {
                    let packet = udp_packet(id, size);
                    expected += packet.len() as u64;
                    queue.send(&packet).unwrap();
                }
                queue.flush().unwrap();
            }
            // The kernel counts a coalesced train as one packet whose IPv4 and UDP headers
            // (28 bytes) were shared by all its segments.
            let (trains, bytes) = rx_counters("gro0");
            assert!(
                trains < 1000,
                "{trains} writes for 1000 packets: nothing was coalesced"
            );
            assert_eq!(
                bytes + 28 * (1000 - trains),
                expected,
                "every segment reached the kernel"
            );
            // TCP trains (TSO): 500 segments of 1360 bytes, in sequence; 40 header bytes each.
            let mut tcp_expected = 0u64;
            for i in 0..500u32 {
                let packet = tcp_segment(1 + i * 1360, 1360);
                tcp_expected += packet.len() as u64;
                queue.send(&packet).unwrap();
            }
            queue.flush().unwrap();
            let (all_trains, all_bytes) = rx_counters("gro0");
            let (tcp_trains, tcp_bytes) = (all_trains - trains, all_bytes - bytes);
            assert!(tcp_trains < 500, "{tcp_trains} writes for 500 TCP segments");
            assert_eq!(tcp_bytes + 40 * (500 - tcp_trains), tcp_expected);
        });
    }
}
