//! The raw IPv4 socket that carries GRE (IP protocol 47, RFC 2637 §4) and its
//! batched receive and send rings.
//!
//! Every data-path worker opens its own socket. A raw socket sees every GRE
//! datagram the host receives, so each worker attaches a classic BPF filter that
//! keeps only the calls it owns (`call_id % shards == shard`) and only enhanced
//! GRE (version 1, protocol 0x880B); the kernel drops the rest before it is
//! queued. Received datagrams start with the IPv4 header; datagrams we send do
//! not (the kernel builds the IPv4 header because `IP_HDRINCL` is off).
//!
//! `recvmmsg`/`sendmmsg` move up to [`BATCH`] datagrams per system call. The
//! rings own fixed buffers allocated once, so nothing is allocated per packet.
//! This is one of the two modules of the daemon that need `unsafe` (the other is
//! the TUN device): the `mmsghdr`/`iovec` arrays point into buffers the ring owns.
#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{Domain, Protocol, SockFilter, Socket, Type};

/// IP protocol number of GRE.
pub const IPPROTO_GRE: i32 = 47;
/// Datagrams moved per `recvmmsg`/`sendmmsg` call.
pub const BATCH: usize = 64;
/// Size of one slot: an IPv4 header, the enhanced GRE header and a PPP frame of
/// the largest MRU we accept, rounded up.
pub const SLOT_SIZE: usize = 2048;

/// A nonblocking raw socket for GRE.
#[derive(Debug)]
pub struct GreSocket {
    socket: Socket,
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
        Ok(Self { socket })
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

/// Receive and send buffer of each GRE socket.
const SOCKET_BUFFER: usize = 8 << 20;

/// `setsockopt(SOL_SOCKET, option, bytes)` for the `*BUFFORCE` options socket2 lacks.
fn force_buffer(socket: &Socket, option: libc::c_int, bytes: usize) -> io::Result<()> {
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
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
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

/// A ring of send slots flushed by one `sendmmsg` call.
pub struct SendRing {
    buffers: Box<[u8]>,
    lengths: [usize; BATCH],
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::mmsghdr]>,
    addresses: Box<[libc::sockaddr_in]>,
    queued: usize,
    /// Datagrams the kernel refused (buffer full or a route error) since creation.
    pub dropped: u64,
}

// SAFETY: as for RecvRing.
unsafe impl Send for SendRing {}

impl Default for SendRing {
    fn default() -> Self {
        Self::new()
    }
}

impl SendRing {
    /// Allocates [`BATCH`] slots of [`SLOT_SIZE`] bytes.
    pub fn new() -> Self {
        let mut ring = SendRing {
            buffers: vec![0u8; BATCH * SLOT_SIZE].into_boxed_slice(),
            lengths: [0; BATCH],
            iovecs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ]
            .into_boxed_slice(),
            // SAFETY: plain C structs; all-zero is valid.
            headers: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            addresses: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            queued: 0,
            dropped: 0,
        };
        let base = ring.buffers.as_mut_ptr();
        for i in 0..BATCH {
            // SAFETY: inside `buffers`.
            ring.iovecs[i] = libc::iovec {
                iov_base: unsafe { base.add(i * SLOT_SIZE) }.cast(),
                iov_len: 0,
            };
            let h = &mut ring.headers[i].msg_hdr;
            h.msg_name = (&mut ring.addresses[i] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            h.msg_iov = &mut ring.iovecs[i];
            h.msg_iovlen = 1;
        }
        ring
    }

    /// Whether every slot is taken (the caller must [`flush`](Self::flush)).
    pub fn is_full(&self) -> bool {
        self.queued == BATCH
    }

    /// Datagrams waiting for the next flush.
    pub fn len(&self) -> usize {
        self.queued
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// The next free slot, whole, for the caller to build a datagram in. Commit
    /// it with [`commit`](Self::commit). Panics never: the caller flushes when full.
    pub fn slot(&mut self) -> Option<&mut [u8]> {
        if self.queued == BATCH {
            return None;
        }
        let i = self.queued;
        Some(&mut self.buffers[i * SLOT_SIZE..(i + 1) * SLOT_SIZE])
    }

    /// Queues the datagram built in the current slot at `range` for `dst`.
    pub fn commit(&mut self, dst: Ipv4Addr, start: usize, len: usize) {
        let i = self.queued;
        if i == BATCH || start + len > SLOT_SIZE {
            self.dropped += 1;
            return;
        }
        self.lengths[i] = len;
        // SAFETY: start + len <= SLOT_SIZE, inside slot i.
        self.iovecs[i].iov_base =
            unsafe { self.buffers.as_mut_ptr().add(i * SLOT_SIZE + start) }.cast();
        self.iovecs[i].iov_len = len;
        self.addresses[i] = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(dst).to_be(),
            },
            sin_zero: [0; 8],
        };
        self.queued += 1;
    }

    /// Sends everything queued. Datagrams the kernel will not take now are
    /// dropped and counted, as a router drops on a full queue.
    pub fn flush(&mut self, fd: RawFd) -> io::Result<()> {
        let mut sent = 0usize;
        while sent < self.queued {
            // SAFETY: entries sent..queued are initialised and point into our buffers.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.headers.as_mut_ptr().add(sent),
                    (self.queued - sent) as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // The first datagram failed (full buffer, unreachable peer): drop it, go on.
                self.dropped += 1;
                sent += 1;
                continue;
            }
            sent += n as usize;
        }
        self.queued = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root for a network namespace and raw sockets");
            return;
        }
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
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
            let mut ring = SendRing::new();
            for (call, version) in [(4u16, 1u8), (5, 1), (6, 0), (7, 1), (8, 1)] {
                let slot = ring.slot().unwrap();
                let d = gre(call, version);
                slot[..d.len()].copy_from_slice(&d);
                ring.commit(Ipv4Addr::LOCALHOST, 0, d.len());
            }
            ring.flush(sender.as_raw_fd()).unwrap();
            assert_eq!(ring.dropped, 0);
            let mut recv = RecvRing::new();
            assert_eq!(drain(&mut recv, &shard0), vec![4, 8]);
            assert_eq!(drain(&mut recv, &shard1), vec![5, 7]);
        })
        .join()
        .unwrap();
    }
}
