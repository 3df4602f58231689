//! Batched datagram IO for the traffic generators and receivers: `sendmmsg(2)` and
//! `recvmmsg(2)`, up to [`BATCH`] datagrams per system call, nonblocking (`MSG_DONTWAIT`).
//!
//! This is the crate's only module with `unsafe` code: the `mmsghdr`/`iovec`/`sockaddr_in`
//! arrays handed to the kernel are built on the stack of each call and point into buffers the
//! call borrows, so they cannot outlive them.
#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Datagrams per system call.
pub const BATCH: usize = 64;

fn to_sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

fn from_sockaddr(addr: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(addr.sin_addr.s_addr.to_ne_bytes()),
        u16::from_be(addr.sin_port),
    )
}

/// Points `header` at one address slot and one iovec (one datagram per header).
fn point(header: &mut libc::msghdr, address: &mut libc::sockaddr_in, iovec: &mut libc::iovec) {
    header.msg_name = (address as *mut libc::sockaddr_in).cast();
    header.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    header.msg_iov = iovec;
    header.msg_iovlen = 1;
}

/// Sends up to [`BATCH`] of `packets`, packet `i` to `dst(i)`, in one `sendmmsg`. Returns how
/// many the kernel took (0 when the socket buffer is full).
pub fn send_batch(
    fd: BorrowedFd<'_>,
    packets: &[&[u8]],
    dst: impl Fn(usize) -> SocketAddrV4,
) -> io::Result<usize> {
    let n = packets.len().min(BATCH);
    if n == 0 {
        return Ok(0);
    }
    let mut addresses = [to_sockaddr(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)); BATCH];
    let mut iovecs = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; BATCH];
    // SAFETY: mmsghdr is a plain C struct for which all-zero is a valid value.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        addresses[i] = to_sockaddr(dst(i));
        iovecs[i] = libc::iovec {
            // The kernel only reads through this pointer (sendmmsg).
            iov_base: packets[i].as_ptr() as *mut libc::c_void,
            iov_len: packets[i].len(),
        };
        point(&mut headers[i].msg_hdr, &mut addresses[i], &mut iovecs[i]);
    }
    // SAFETY: the first `n` headers point at addresses, iovecs and packet buffers that live
    // until this call returns; the kernel writes only `msg_len` of each header.
    let sent = unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            headers.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if sent < 0 {
        let error = io::Error::last_os_error();
        return match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
            // A raw socket reports a full device queue as ENOBUFS: the packets were dropped.
            _ if error.raw_os_error() == Some(libc::ENOBUFS) => Ok(0),
            _ => Err(error),
        };
    }
    Ok(sent as usize)
}

/// [`BATCH`] receive buffers and what one `recvmmsg` put into them.
pub struct RecvBatch {
    buffers: Box<[u8]>,
    slot: usize,
    lens: [usize; BATCH],
    sources: [SocketAddrV4; BATCH],
    filled: usize,
}

impl RecvBatch {
    /// Buffers of `slot` bytes each (longer datagrams are cut).
    pub fn new(slot: usize) -> Self {
        RecvBatch {
            buffers: vec![0u8; BATCH * slot].into_boxed_slice(),
            slot,
            lens: [0; BATCH],
            sources: [SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0); BATCH],
            filled: 0,
        }
    }

    /// Receives up to [`BATCH`] datagrams without waiting; returns how many (0 if none was
    /// queued).
    pub fn receive(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        self.filled = 0;
        let mut addresses = [to_sockaddr(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)); BATCH];
        let mut iovecs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; BATCH];
        // SAFETY: mmsghdr is a plain C struct for which all-zero is a valid value.
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, chunk) in self.buffers.chunks_exact_mut(self.slot).enumerate() {
            iovecs[i] = libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: chunk.len(),
            };
            point(&mut headers[i].msg_hdr, &mut addresses[i], &mut iovecs[i]);
        }
        // SAFETY: every header points at an address slot, an iovec and a buffer slot owned by
        // this call or by `self`, all alive and unaliased until it returns; the kernel writes at
        // most `iov_len` bytes into each buffer and at most `msg_namelen` into each address.
        let received = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(error),
            };
        }
        let n = received as usize;
        for i in 0..n {
            self.lens[i] = (headers[i].msg_len as usize).min(self.slot);
            self.sources[i] = from_sockaddr(&addresses[i]);
        }
        self.filled = n;
        Ok(n)
    }

    /// How many datagrams the last [`receive`](Self::receive) returned.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// Whether the last receive returned nothing.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Datagram `i` of the last receive (empty beyond [`len`](Self::len)).
    pub fn datagram(&self, i: usize) -> &[u8] {
        if i >= self.filled {
            return &[];
        }
        &self.buffers[i * self.slot..i * self.slot + self.lens[i]]
    }

    /// The sender of datagram `i` (for a raw socket, its IP address with port 0).
    pub fn source(&self, i: usize) -> SocketAddrV4 {
        self.sources[i.min(BATCH - 1)]
    }
}

/// Waits up to `timeout` until one of `fds` is readable; returns which are (all false on
/// timeout or error).
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout: std::time::Duration) -> Vec<bool> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    match poll(&mut polled, timeout) {
        Ok(n) if n > 0 => polled
            .iter()
            .map(|p| p.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
            .collect(),
        _ => vec![false; fds.len()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    #[test]
    fn a_batch_goes_out_and_comes_back_in_order() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = match receiver.local_addr().unwrap() {
            std::net::SocketAddr::V4(v4) => v4,
            other => panic!("{other}"),
        };
        let from = match sender.local_addr().unwrap() {
            std::net::SocketAddr::V4(v4) => v4,
            other => panic!("{other}"),
        };
        let packets: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 1 + usize::from(i)]).collect();
        let slices: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        assert_eq!(send_batch(sender.as_fd(), &slices, |_| to).unwrap(), 10);
        let mut batch = RecvBatch::new(2048);
        let mut got = Vec::new();
        for _ in 0..100 {
            batch.receive(receiver.as_fd()).unwrap();
            for i in 0..batch.len() {
                assert_eq!(batch.source(i), from);
                got.push(batch.datagram(i).to_vec());
            }
            if got.len() == 10 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got, packets);
        assert_eq!(
            batch.receive(receiver.as_fd()).unwrap(),
            0,
            "nothing more, no waiting"
        );
    }
}
