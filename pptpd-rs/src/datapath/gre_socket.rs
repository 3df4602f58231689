//! The raw IPv4 socket that carries GRE (IP protocol 47, RFC 2637 §4) and its
//! batched receive and send rings.
//!
//! Every data-path worker opens its own socket. A raw socket sees every GRE
//! datagram the host receives, so each worker attaches a classic BPF filter that
//! keeps only the calls it owns (`call_id % shards == shard`) and only enhanced
//! GRE (version 1, protocol 0x880B); the kernel drops the rest before it is
//! queued. Received datagrams start with the IPv4 header; datagrams we send do
//! not (the kernel builds the IPv4 header because `IP_HDRINCL` is off) — except
//! the data of sessions with a [`LinkRoute`], which the send ring frames whole
//! for the packet socket of [`super::frame_socket`].
//!
//! `recvmmsg`/`sendmmsg` move up to [`BATCH`] datagrams per system call. The
//! rings own fixed buffers allocated once, so nothing is allocated per packet.
//! This is one of the three modules of the daemon that need `unsafe` (the others are
//! `tun_steering`, for bpf(2), and `raw_syscall`): the `mmsghdr`/`iovec` arrays point into
//! buffers the ring owns.
#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{Domain, Protocol, SockFilter, Socket, Type};

use super::frame_socket::{
    ETHERNET_HEADER_LEN, FRAME_HEADER_LEN, FrameSocket, LinkRoute, write_frame_header,
};

/// Where a frame's IPv4 destination address lies (RFC 791 §3.1: header bytes 16-19).
const FRAME_DST_IP: usize = ETHERNET_HEADER_LEN + 16;

/// IP protocol number of GRE.
pub const IPPROTO_GRE: i32 = 47;
/// Datagrams moved per `recvmmsg`/`sendmmsg` call.
pub const BATCH: usize = 64;
/// Size of one slot: an IPv4 header, the enhanced GRE header and a PPP frame of
/// the largest MRU we accept, rounded up.
pub const SLOT_SIZE: usize = 2048;
/// What a [`SendRing`] slot leaves for the caller's GRE datagram (the rest is
/// room for the frame headers of `gre-direct`).
pub const SEND_SLOT_SIZE: usize = SLOT_SIZE - FRAME_HEADER_LEN;

/// A nonblocking raw socket for GRE.
#[derive(Debug)]
pub struct GreSocket {
    socket: Socket,
    ttl: u8,
}

impl GreSocket {
    /// Opens a raw GRE socket, bound to `local` when given, with large kernel buffers.
    pub fn open(local: Option<Ipv4Addr>) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_GRE)))
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot open a raw socket for GRE (IP protocol 47; needs CAP_NET_RAW): {e}"
                    ),
                )
            })?;
        socket.set_nonblocking(true)?;
        // Bursts of a few thousand packets must not overflow the default 208 KiB. As root we
        // may exceed net.core.rmem_max/wmem_max (SO_RCVBUFFORCE); otherwise take what we get.
        force_buffer(&socket, libc::SO_RCVBUFFORCE, SOCKET_BUFFER)
            .or_else(|_| socket.set_recv_buffer_size(SOCKET_BUFFER))
            .ok();
        force_buffer(&socket, libc::SO_SNDBUFFORCE, SOCKET_BUFFER)
            .or_else(|_| socket.set_send_buffer_size(SOCKET_BUFFER))
            .ok();
        if let Some(addr) = local {
            socket.bind(&SocketAddrV4::new(addr, 0).into())?;
        }
        // IP_TTL reads the host's default (net.ipv4.ip_default_ttl) until set.
        let ttl = socket
            .ttl_v4()
            .ok()
            .and_then(|t| u8::try_from(t).ok())
            .unwrap_or(DEFAULT_TTL);
        Ok(Self { socket, ttl })
    }

    /// Sends the GRE datagram inside an Ethernet frame built by [`write_frame_header`]
    /// with a header the kernel builds (to the frame's IPv4 destination); whether
    /// the kernel took it.
    fn send_unframed(&self, frame: &[u8]) -> bool {
        let (Some(dst), Some(datagram)) = (
            frame.get(FRAME_DST_IP..FRAME_DST_IP + 4),
            frame.get(FRAME_HEADER_LEN..),
        ) else {
            return false;
        };
        let dst = Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]);
        self.socket
            .send_to(datagram, &SocketAddrV4::new(dst, 0).into())
            .is_ok()
    }

    /// The TTL of the datagrams the kernel sends for us: the host's default.
    pub fn ttl(&self) -> u8 {
        self.ttl
    }

    /// Keeps only enhanced GRE datagrams of the calls this worker owns.
    ///
    /// The filter reads the IPv4 header length, checks the GRE flags/version word
    /// (`K` set and version 1, `C`, `R`, `s` clear) and protocol 0x880B, then takes
    /// the call ID (the low half of the GRE key) modulo `shards`.
    pub fn attach_shard_filter(&self, shard: u16, shards: u16) -> io::Result<()> {
        self.socket.attach_filter(&shard_filter(shard, shards))
    }
}

impl AsRawFd for GreSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl AsFd for GreSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// The TTL when the host's default cannot be read.
const DEFAULT_TTL: u8 = 64;

/// Receive and send buffer of each GRE socket (and send buffer of each frame socket).
pub(super) const SOCKET_BUFFER: usize = 8 << 20;

/// `setsockopt(SOL_SOCKET, option, bytes)` for the `*BUFFORCE` options socket2 lacks.
pub(super) fn force_buffer(socket: &Socket, option: libc::c_int, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid socket descriptor, and a pointer to a c_int with its exact length.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

// Classic BPF opcodes (linux/filter.h).
const BPF_LD_H_IND: u16 = 0x48;
const BPF_LDX_B_MSH: u16 = 0xb1;
const BPF_ALU_AND_K: u16 = 0x54;
const BPF_ALU_MOD_K: u16 = 0x94;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;

/// Builds the shard filter program (see [`GreSocket::attach_shard_filter`]).
pub fn shard_filter(shard: u16, shards: u16) -> Vec<SockFilter> {
    let shards = u32::from(shards.max(1));
    vec![
        // X = 4 * (ip[0] & 0xf): the IPv4 header length.
        SockFilter::new(BPF_LDX_B_MSH, 0, 0, 0),
        // A = the GRE flags/version word; keep K=1, version 1, nothing else set
        // except S and A (0x1000 and 0x0080).
        SockFilter::new(BPF_LD_H_IND, 0, 0, 0),
        SockFilter::new(BPF_ALU_AND_K, 0, 0, 0xef7f),
        SockFilter::new(BPF_JEQ_K, 0, 6, 0x2001),
        // A = protocol type.
        SockFilter::new(BPF_LD_H_IND, 0, 0, 2),
        SockFilter::new(BPF_JEQ_K, 0, 4, 0x880b),
        // A = call ID % shards.
        SockFilter::new(BPF_LD_H_IND, 0, 0, 6),
        SockFilter::new(BPF_ALU_MOD_K, 0, 0, shards),
        SockFilter::new(BPF_JEQ_K, 0, 1, u32::from(shard)),
        SockFilter::new(BPF_RET_K, 0, 0, u32::MAX),
        SockFilter::new(BPF_RET_K, 0, 0, 0),
    ]
}

/// A ring of receive slots filled by one `recvmmsg` call.
pub struct RecvRing {
    buffers: Box<[u8]>,
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::mmsghdr]>,
    addresses: Box<[libc::sockaddr_in]>,
    filled: usize,
}

// SAFETY: the raw pointers inside point only into the ring's own heap boxes,
// which move with it; the ring is used by one thread at a time.
unsafe impl Send for RecvRing {}

impl Default for RecvRing {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvRing {
    /// Allocates [`BATCH`] slots of [`SLOT_SIZE`] bytes.
    pub fn new() -> Self {
        let mut ring = RecvRing {
            buffers: vec![0u8; BATCH * SLOT_SIZE].into_boxed_slice(),
            iovecs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ]
            .into_boxed_slice(),
            // SAFETY: mmsghdr and sockaddr_in are plain C structs; all-zero is valid.
            headers: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            addresses: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            filled: 0,
        };
        ring.wire();
        ring
    }

    fn wire(&mut self) {
        let base = self.buffers.as_mut_ptr();
        for i in 0..BATCH {
            // SAFETY: i * SLOT_SIZE < BATCH * SLOT_SIZE, inside `buffers`.
            self.iovecs[i] = libc::iovec {
                iov_base: unsafe { base.add(i * SLOT_SIZE) }.cast(),
                iov_len: SLOT_SIZE,
            };
        }
        for i in 0..BATCH {
            let h = &mut self.headers[i].msg_hdr;
            h.msg_name = (&mut self.addresses[i] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            h.msg_iov = &mut self.iovecs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.headers[i].msg_len = 0;
        }
    }

    /// Receives up to [`BATCH`] datagrams without blocking; returns how many.
    /// `Ok(0)` means nothing was waiting.
    pub fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        for i in 0..BATCH {
            self.headers[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
        }
        // SAFETY: headers, iovecs and addresses are valid for BATCH entries and
        // point into buffers owned by self for the duration of the call.
        let n = unsafe {
            super::raw_syscall::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            self.filled = 0;
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        self.filled = n as usize;
        Ok(self.filled)
    }

    /// How many datagrams the last [`receive`](Self::receive) delivered.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// Whether the last receive delivered nothing.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// The `i`-th received datagram (IPv4 header included), writable for in-place decryption.
    pub fn datagram_mut(&mut self, i: usize) -> &mut [u8] {
        let len = (self.headers[i].msg_len as usize).min(SLOT_SIZE);
        &mut self.buffers[i * SLOT_SIZE..i * SLOT_SIZE + len]
    }
}

/// The `mmsghdr`s of one kind of datagram queued in a [`SendRing`], each with
/// its `iovec` and destination address `A`, for one `sendmmsg` call.
struct Batch<A> {
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::mmsghdr]>,
    addresses: Box<[A]>,
    queued: usize,
}

impl<A: Copy> Batch<A> {
    /// [`BATCH`] entries; `blank` fills the addresses.
    fn new(blank: A) -> Self {
        let mut batch = Batch {
            iovecs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ]
            .into_boxed_slice(),
            // SAFETY: mmsghdr is a plain C struct; all-zero is valid.
            headers: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            addresses: vec![blank; BATCH].into_boxed_slice(),
            queued: 0,
        };
        for k in 0..BATCH {
            let h = &mut batch.headers[k].msg_hdr;
            h.msg_name = (&mut batch.addresses[k] as *mut A).cast();
            h.msg_namelen = std::mem::size_of::<A>() as u32;
            h.msg_iov = &mut batch.iovecs[k];
            h.msg_iovlen = 1;
        }
        batch
    }

    /// Queues `len` bytes at `base` for `address`.
    fn push(&mut self, base: *mut u8, len: usize, address: A) {
        let k = self.queued;
        self.iovecs[k] = libc::iovec {
            iov_base: base.cast(),
            iov_len: len,
        };
        self.addresses[k] = address;
        self.queued += 1;
    }

    /// Sends queued entries `from..to` on `fd`; returns how many datagrams were
    /// dropped. `on_error(iovec)` may still deliver a refused datagram another way (true).
    fn send(
        &mut self,
        fd: RawFd,
        from: usize,
        to: usize,
        mut on_error: impl FnMut(&libc::iovec) -> bool,
    ) -> u64 {
        let to = to.min(self.queued);
        let mut sent = from;
        let mut dropped = 0u64;
        while sent < to {
            // SAFETY: entries sent..to are initialised and point into buffers that
            // outlive the call.
            let n = unsafe {
                super::raw_syscall::sendmmsg(
                    fd,
                    self.headers.as_mut_ptr().add(sent),
                    (to - sent) as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // The first datagram failed (full buffer, unreachable peer, device
                // gone): drop it, go on.
                if !on_error(&self.iovecs[sent]) {
                    dropped += 1;
                }
                sent += 1;
                continue;
            }
            sent += n as usize;
        }
        dropped
    }
}

/// Which socket a queued datagram goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Raw,
    Framed,
}

/// A ring of send slots flushed with `sendmmsg`: GRE datagrams for the raw
/// socket, and framed ones for the packet socket (`gre-direct`,
/// [`super::frame_socket`]), one call per run of the same socket, in queue order.
pub struct SendRing {
    buffers: Box<[u8]>,
    raw: Batch<libc::sockaddr_in>,
    framed: Batch<libc::sockaddr_ll>,
    /// The ways of the queued datagrams in queue order, as runs: a flush sends
    /// them run by run, so that nothing overtakes what was queued before it (GRE
    /// sequence numbers, RFC 2637 §4.4, are shared by control frames and data).
    runs: [(Way, usize); BATCH],
    run_count: usize,
    slots_used: usize,
    ttl: u8,
    next_id: u16,
    /// Datagrams the kernel refused (buffer full or a route error) since creation.
    pub dropped: u64,
}

// SAFETY: the raw pointers inside point only into the ring's own heap boxes,
// which move with it; the ring is used by one thread at a time.
unsafe impl Send for SendRing {}

impl SendRing {
    /// Allocates [`BATCH`] slots of [`SLOT_SIZE`] bytes; framed datagrams get
    /// TTL `ttl` (the host's default).
    pub fn new(ttl: u8) -> Self {
        // SAFETY: plain C structs; all-zero is valid.
        let (blank_in, blank_ll) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        SendRing {
            buffers: vec![0u8; BATCH * SLOT_SIZE].into_boxed_slice(),
            raw: Batch::new(blank_in),
            framed: Batch::new(blank_ll),
            runs: [(Way::Raw, 0); BATCH],
            run_count: 0,
            slots_used: 0,
            ttl,
            // Any start will do: IDs only tell fragments of different datagrams apart.
            next_id: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| t.subsec_nanos() as u16),
            dropped: 0,
        }
    }

    /// Whether every slot is taken (the caller must [`flush`](Self::flush)).
    pub fn is_full(&self) -> bool {
        self.slots_used == BATCH
    }

    /// Datagrams waiting for the next flush.
    pub fn len(&self) -> usize {
        self.slots_used
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.slots_used == 0
    }

    /// The next free slot ([`SEND_SLOT_SIZE`] bytes, behind room for the frame
    /// headers) for the caller to build a GRE datagram in. Commit it with
    /// [`commit`](Self::commit) or [`commit_framed`](Self::commit_framed).
    /// Panics never: the caller flushes when full.
    pub fn slot(&mut self) -> Option<&mut [u8]> {
        if self.slots_used == BATCH {
            return None;
        }
        let i = self.slots_used;
        Some(&mut self.buffers[i * SLOT_SIZE + FRAME_HEADER_LEN..(i + 1) * SLOT_SIZE])
    }

    /// Queues the GRE datagram built at `slot[start..start + len]` of the
    /// current slot for `dst`, through the raw socket (the kernel adds the IPv4 header).
    pub fn commit(&mut self, dst: Ipv4Addr, start: usize, len: usize) {
        let i = self.slots_used;
        if i == BATCH || start + len > SEND_SLOT_SIZE {
            self.dropped += 1;
            return;
        }
        let at = i * SLOT_SIZE + FRAME_HEADER_LEN + start;
        // SAFETY: at + len <= (i + 1) * SLOT_SIZE: inside slot i.
        let base = unsafe { self.buffers.as_mut_ptr().add(at) };
        self.raw.push(base, len, sockaddr_in(dst));
        self.slots_used += 1;
        self.extend_runs(Way::Raw);
    }

    /// Counts one more queued datagram going `way`.
    fn extend_runs(&mut self, way: Way) {
        match self
            .run_count
            .checked_sub(1)
            .map(|last| &mut self.runs[last])
        {
            Some((last_way, count)) if *last_way == way => *count += 1,
            _ => {
                self.runs[self.run_count] = (way, 1);
                self.run_count += 1;
            }
        }
    }

    /// Queues the GRE datagram at `slot[start..start + len]` as a finished frame
    /// along `route`, through the packet socket; one too large for the device
    /// goes by the raw socket instead.
    pub fn commit_framed(&mut self, route: &LinkRoute, start: usize, len: usize) {
        if !route.fits(len) {
            return self.commit(route.dst_ip, start, len);
        }
        let i = self.slots_used;
        if i == BATCH || start + len > SEND_SLOT_SIZE {
            self.dropped += 1;
            return;
        }
        // The headers go right before the datagram: slot offset `start` of the buffer.
        let at = i * SLOT_SIZE + start;
        self.next_id = self.next_id.wrapping_add(1);
        let mut header = [0u8; FRAME_HEADER_LEN];
        write_frame_header(&mut header, route, len, self.next_id, self.ttl);
        self.buffers[at..at + FRAME_HEADER_LEN].copy_from_slice(&header);
        let total = FRAME_HEADER_LEN + len;
        // SAFETY: at + total = i * SLOT_SIZE + start + FRAME_HEADER_LEN + len
        // <= (i + 1) * SLOT_SIZE: inside slot i.
        let base = unsafe { self.buffers.as_mut_ptr().add(at) };
        self.framed.push(base, total, route.sockaddr());
        self.slots_used += 1;
        self.extend_runs(Way::Framed);
    }

    /// Sends everything queued, in queue order: GRE datagrams on `gre`, frames
    /// on `frames` (frames the packet socket refuses go by `gre`). Datagrams the
    /// kernel will not take now are dropped and counted, as a router drops on a
    /// full queue.
    pub fn flush(&mut self, gre: &GreSocket, frames: Option<&FrameSocket>) -> io::Result<()> {
        let (mut raw_sent, mut framed_sent) = (0, 0);
        for &(way, count) in &self.runs[..self.run_count] {
            match way {
                Way::Raw => {
                    let to = raw_sent + count;
                    self.dropped += self.raw.send(gre.as_raw_fd(), raw_sent, to, |_| false);
                    raw_sent = to;
                }
                Way::Framed => {
                    let buffers = &self.buffers;
                    let fd = frames.map_or(-1, AsRawFd::as_raw_fd);
                    let to = framed_sent + count;
                    self.dropped += self.framed.send(fd, framed_sent, to, |iov| {
                        let at = (iov.iov_base as usize).wrapping_sub(buffers.as_ptr() as usize);
                        buffers
                            .get(at..at + iov.iov_len)
                            .is_some_and(|frame| gre.send_unframed(frame))
                    });
                    framed_sent = to;
                }
            }
        }
        self.raw.queued = 0;
        self.framed.queued = 0;
        self.run_count = 0;
        self.slots_used = 0;
        Ok(())
    }
}

fn sockaddr_in(dst: Ipv4Addr) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(dst).to_be(),
        },
        sin_zero: [0; 8],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::frame_socket::test_devices::{in_private_namespace, mac_of, run};
    use std::process::Command;
    use std::time::Duration;

    /// GRE datagram (no IPv4 header: the kernel adds it) for `call_id`, version `version`.
    fn gre(call_id: u16, version: u8) -> Vec<u8> {
        let mut d = vec![0x30, 0x80 | version, 0x88, 0x0b, 0x00, 0x02];
        d.extend_from_slice(&call_id.to_be_bytes());
        d.extend_from_slice(&[0, 0, 0, 1, 0xff, 0x03]);
        d
    }

    fn drain(ring: &mut RecvRing, socket: &GreSocket) -> Vec<u16> {
        std::thread::sleep(Duration::from_millis(50));
        let n = ring.receive(socket.as_raw_fd()).unwrap();
        (0..n)
            .map(|i| {
                let d = ring.datagram_mut(i);
                let ihl = usize::from(d[0] & 0xf) * 4;
                u16::from_be_bytes([d[ihl + 6], d[ihl + 7]])
            })
            .collect()
    }

    /// In a private network namespace (this thread only; it vanishes with the thread):
    /// each shard's socket receives exactly its calls, and no non-PPTP GRE.
    #[test]
    fn each_worker_socket_receives_only_its_share_of_calls() {
        in_private_namespace(|| {
            let up = Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status()
                .unwrap();
            assert!(up.success());
            let shard0 = GreSocket::open(None).unwrap();
            let shard1 = GreSocket::open(None).unwrap();
            shard0.attach_shard_filter(0, 2).unwrap();
            shard1.attach_shard_filter(1, 2).unwrap();
            let sender = GreSocket::open(None).unwrap();
            let mut ring = SendRing::new(sender.ttl());
            for (call, version) in [(4u16, 1u8), (5, 1), (6, 0), (7, 1), (8, 1)] {
                let slot = ring.slot().unwrap();
                let d = gre(call, version);
                slot[..d.len()].copy_from_slice(&d);
                ring.commit(Ipv4Addr::LOCALHOST, 0, d.len());
            }
            ring.flush(&sender, None).unwrap();
            assert_eq!(ring.dropped, 0);
            let mut recv = RecvRing::new();
            assert_eq!(drain(&mut recv, &shard0), vec![4, 8]);
            assert_eq!(drain(&mut recv, &shard1), vec![5, 7]);
        });
    }

    /// Runs `ip ARGS` in the calling thread's network namespace.
    fn ip(args: &str) {
        run(&format!("ip {args}"));
    }

    /// In a private network namespace with a veth pair `fa`–`fb` (10.77.0.2 on `fb`):
    /// framed datagrams leave `fa` with our headers and arrive whole; one too large
    /// for the device, and every one when there is no frame socket, goes by the
    /// raw socket instead and arrives too.
    #[test]
    fn framed_datagrams_arrive_with_our_headers_and_the_rest_by_the_raw_socket() {
        in_private_namespace(|| {
            ip("link set lo up");
            ip("link add fa type veth peer name fb");
            ip("addr add 10.77.0.2/24 dev fb");
            ip("link set fa up");
            ip("link set fb up");
            std::thread::sleep(Duration::from_millis(100));
            // Frames from an address that is not ours (no martian-source drop).
            let route = LinkRoute {
                ifindex: nix::net::if_::if_nametoindex("fa").unwrap(),
                mtu: 1500,
                src_mac: mac_of("ip -o link show dev fa"),
                dst_mac: mac_of("ip -o link show dev fb"),
                src_ip: Ipv4Addr::new(10, 77, 0, 9),
                dst_ip: Ipv4Addr::new(10, 77, 0, 2),
                next_hop: Ipv4Addr::new(10, 77, 0, 2),
            };
            let receiver = GreSocket::open(None).unwrap();
            receiver.attach_shard_filter(0, 1).unwrap();
            let sender = GreSocket::open(None).unwrap();
            let frames = FrameSocket::open().unwrap();
            let mut recv = RecvRing::new();
            for with_frames in [true, false] {
                let mut ring = SendRing::new(sender.ttl());
                let mut sent = Vec::new();
                for (call, payload) in [(4u16, 100usize), (6, 1490), (8, 60)] {
                    let mut d = gre(call, 1);
                    d.extend((0..payload).map(|i| (i % 251) as u8));
                    let slot = ring.slot().unwrap();
                    slot[8..8 + d.len()].copy_from_slice(&d);
                    ring.commit_framed(&route, 8, d.len());
                    sent.push(d);
                }
                ring.flush(&sender, with_frames.then_some(&frames)).unwrap();
                assert_eq!(ring.dropped, 0);
                std::thread::sleep(Duration::from_millis(50));
                let n = recv.receive(receiver.as_raw_fd()).unwrap();
                assert_eq!(n, 3, "with frames: {with_frames}");
                let got: Vec<Vec<u8>> = (0..n).map(|i| recv.datagram_mut(i).to_vec()).collect();
                // In the order queued, though the middle one went by the other socket
                // (GRE sequence numbers must not go backwards).
                let calls: Vec<u8> = got.iter().map(|g| g[20 + 7]).collect();
                assert_eq!(calls, [4, 6, 8], "with frames: {with_frames}");
                for (d, g) in sent.iter().zip(&got) {
                    assert_eq!(&g[20..], &d[..], "arrived whole");
                    assert_eq!(usize::from(u16::from_be_bytes([g[2], g[3]])), g.len());
                    let framed = with_frames && d.len() + 20 <= 1500;
                    let source = Ipv4Addr::new(g[12], g[13], g[14], g[15]);
                    // Ours carry our source, TTL and DF clear; the kernel's its own.
                    assert_eq!(source == route.src_ip, framed, "call {}", d[7]);
                    if framed {
                        assert_eq!(g[8], sender.ttl());
                        assert_eq!(g[6] & 0x40, 0, "DF clear");
                    }
                }
            }
        });
    }
}
