//! The data path's per-packet system calls, made with syscall(2) rather than through glibc's
//! wrappers. glibc makes `read`, `write`, `recvmmsg` and `sendmmsg` thread-cancellation points:
//! in a multi-threaded process each call turns asynchronous cancellation on before the system
//! call and off after it, two atomic updates of the thread's cancellation state (about 1 % of
//! the gateway core at one TUN read per downstream packet, measured with perf). pptpd-rs never
//! cancels a thread, so the data path skips them. `read` and `write` return `io::Result`; the
//! batch calls return what the wrappers return: the count, or -1 with `errno` set.
//!
//! One of the three modules of the daemon that need `unsafe` (with `gre_socket` and
//! `tun_steering`): syscall(2) takes raw pointers.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

/// read(2) into `buf`: the bytes read.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
    let n = unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// write(2) of `buf`: the bytes written.
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the duration of the call.
    let n = unsafe { libc::syscall(libc::SYS_write, fd, buf.as_ptr(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// recvmmsg(2) of up to `len` messages into `msgs`, without a timeout.
///
/// # Safety
/// `msgs` must point to `len` initialised headers whose buffers are valid for writes for the
/// duration of the call, as for `libc::recvmmsg`.
pub unsafe fn recvmmsg(fd: RawFd, msgs: *mut libc::mmsghdr, len: u32, flags: i32) -> i32 {
    let null: *mut libc::timespec = std::ptr::null_mut();
    // SAFETY: the caller's promise; a null timeout is allowed.
    unsafe { libc::syscall(libc::SYS_recvmmsg, fd, msgs, len, flags, null) as i32 }
}

/// sendmmsg(2) of up to `len` messages from `msgs`.
///
/// # Safety
/// `msgs` must point to `len` initialised headers whose buffers are valid for reads for the
/// duration of the call, as for `libc::sendmmsg`.
pub unsafe fn sendmmsg(fd: RawFd, msgs: *mut libc::mmsghdr, len: u32, flags: i32) -> i32 {
    // SAFETY: the caller's promise.
    unsafe { libc::syscall(libc::SYS_sendmmsg, fd, msgs, len, flags) as i32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn read_and_write_move_bytes_and_report_errors_as_the_wrappers_do() {
        let (reader, writer) = std::io::pipe().expect("pipe");
        assert_eq!(write(writer.as_raw_fd(), b"hello").expect("write"), 5);
        let mut buf = [0u8; 16];
        assert_eq!(read(reader.as_raw_fd(), &mut buf).expect("read"), 5);
        assert_eq!(&buf[..5], b"hello");
        let error = read(-1, &mut buf).expect_err("a bad descriptor");
        assert_eq!(error.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn sendmmsg_and_recvmmsg_move_a_batch_of_datagrams() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        a.connect(b.local_addr().expect("addr")).expect("connect");
        b.set_nonblocking(true).expect("nonblocking");
        let mut payloads = [*b"one", *b"two", *b"six"];
        let mut iovecs: Vec<libc::iovec> = payloads
            .iter_mut()
            .map(|p| libc::iovec {
                iov_base: p.as_mut_ptr().cast(),
                iov_len: p.len(),
            })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .map(|iov| {
                // SAFETY: an all-zero mmsghdr is a valid empty header.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        // SAFETY: three headers, each with one iovec into `payloads`, alive across the calls.
        let sent = unsafe { sendmmsg(a.as_raw_fd(), headers.as_mut_ptr(), 3, 0) };
        assert_eq!(sent, 3);
        payloads = [[0; 3]; 3];
        let mut got = 0;
        for _ in 0..100 {
            // SAFETY: as above, now written into.
            let n = unsafe {
                recvmmsg(
                    b.as_raw_fd(),
                    headers.as_mut_ptr().add(got),
                    3 - got as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                got += n as usize;
            }
            if got == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(got, 3);
        assert_eq!(payloads, [*b"one", *b"two", *b"six"]);
    }
}
