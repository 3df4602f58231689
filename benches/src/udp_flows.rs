//! Plain UDP flows: the kernel-forwarding limit's traffic (client LAN ⇄ internet through the
//! gateway namespace's routing and masquerade, no tunnel), and the internet side of the
//! tunnel cells (the sink that counts what leaves the gateway, the blaster that sends towards
//! the clients' NAT mappings).
//!
//! A [`UdpSource`] stamps each flow's payload template with increasing sequence numbers and
//! sends them with `sendmmsg`; a [`UdpSink`] reads flow and sequence number of every datagram
//! (cheap) and verifies one in [`SAMPLE_EVERY`] completely.

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use crate::error::{BenchError, Result};
use crate::mmsg::{BATCH, RecvBatch, send_batch, wait_readable};
use crate::payload::{PayloadTemplate, peek, verify};
use crate::traffic::{FlowReceived, Sink, Source};

/// One received datagram in this many is verified completely.
pub const SAMPLE_EVERY: u64 = 64;
/// Kernel socket buffers of the benchmark's sockets.
pub const SOCKET_BUFFER: usize = 16 << 20;
/// Verification failures kept as text.
const KEEP_FAILURES: usize = 8;
/// The most datagrams of one flow sent as one train (UDP GSO), as GRO would merge them.
pub const TRAIN_MAX: usize = 64;
/// The most payload bytes of one train (one IPv4 datagram's worth).
const TRAIN_BYTES: usize = 65_000;

/// A nonblocking UDP socket bound to `addr`, with large buffers (forced: we are root).
pub fn bind_udp(addr: SocketAddrV4) -> Result<UdpSocket> {
    let socket =
        UdpSocket::bind(addr).map_err(|e| BenchError::socket(format!("bind UDP {addr}"), e))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| BenchError::socket("nonblocking UDP", e))?;
    force_buffers(&socket);
    Ok(socket)
}

/// Raises a socket's buffers to [`SOCKET_BUFFER`] past `net.core.*mem_max` (needs
/// `CAP_NET_ADMIN`; the defaults still work without it).
pub fn force_buffers(socket: &impl AsFd) {
    use nix::sys::socket::{setsockopt, sockopt};
    let _ = setsockopt(socket, sockopt::RcvBufForce, &SOCKET_BUFFER);
    let _ = setsockopt(socket, sockopt::SndBufForce, &SOCKET_BUFFER);
}

/// The sending side of a set of UDP flows: either one socket per flow (each flow has its own
/// source port, hence its own NAT mapping) or one socket for all (per-flow destinations).
pub struct UdpSender {
    sockets: Vec<UdpSocket>,
    next_seq: Vec<u64>,
}

impl UdpSender {
    /// Flow `i` sends from `sockets[i]`.
    pub fn per_flow(sockets: Vec<UdpSocket>) -> Self {
        let flows = sockets.len();
        UdpSender {
            sockets,
            next_seq: vec![0; flows],
        }
    }

    /// All `flows` send from `socket`.
    pub fn shared(socket: UdpSocket, flows: usize) -> Self {
        UdpSender {
            sockets: vec![socket],
            next_seq: vec![0; flows],
        }
    }

    /// The socket of `flow`.
    pub fn socket(&self, flow: usize) -> &UdpSocket {
        &self.sockets[flow.min(self.sockets.len() - 1)]
    }

    /// The number of flows.
    pub fn flows(&self) -> usize {
        self.next_seq.len()
    }

    /// Sends one datagram of `flow` to `dst` (to create or refresh its NAT mapping).
    pub fn send_one(&mut self, flow: usize, dst: SocketAddrV4, payload_len: usize) -> Result<()> {
        let template = PayloadTemplate::new(flow as u32, payload_len);
        let payload = template.payload(self.next_seq[flow]);
        self.next_seq[flow] += 1;
        self.socket(flow)
            .send_to(&payload, dst)
            .map_err(|e| BenchError::socket(format!("send to {dst}"), e))?;
        Ok(())
    }

    /// A source sending `payload_len`-byte payloads of the first `flows` flows, flow `i` to
    /// `dsts[i]`.
    pub fn source(&mut self, dsts: Vec<SocketAddrV4>, payload_len: usize) -> UdpSource<'_> {
        let templates = (0..dsts.len())
            .map(|flow| PayloadTemplate::new(flow as u32, payload_len))
            .collect();
        let first = self.next_seq.clone();
        UdpSource {
            sender: self,
            dsts,
            templates,
            first,
            scratch: vec![vec![0u8; payload_len.max(crate::payload::HEADER_LEN)]; BATCH],
            train: None,
        }
    }
}

/// A [`Source`] of UDP datagrams, borrowing its [`UdpSender`] for one cell.
pub struct UdpSource<'a> {
    sender: &'a mut UdpSender,
    dsts: Vec<SocketAddrV4>,
    templates: Vec<PayloadTemplate>,
    first: Vec<u64>,
    scratch: Vec<Vec<u8>>,
    /// With trains: the buffer one train is assembled in.
    train: Option<Vec<u8>>,
}

impl UdpSource<'_> {
    /// Sends each flow's datagrams in trains of up to [`TRAIN_MAX`] (one `sendmsg` with
    /// `UDP_SEGMENT`: the kernel carries a train as one packet until something splits it —
    /// here the gateway's TUN device, which hands it to pptpd-rs whole), if `trains`.
    pub fn in_trains(mut self, trains: bool) -> Self {
        self.train = trains.then(|| Vec::with_capacity(TRAIN_BYTES));
        self
    }

    /// Stamps `n` payloads of `flow` into the scratch buffers from `at`.
    fn stamp(&mut self, flow: usize, at: usize, n: usize) {
        let template = &self.templates[flow];
        for buf in &mut self.scratch[at..at + n] {
            template.write(self.sender.next_seq[flow], buf);
            self.sender.next_seq[flow] += 1;
        }
    }

    fn send_group(
        &mut self,
        socket: usize,
        group: &[(usize, usize)],
        sent: &mut [u64],
    ) -> Result<()> {
        if self.train.is_some() {
            return self.send_trains(socket, group, sent);
        }
        let total: usize = group.iter().map(|(_, n)| n).sum();
        let mut owners = Vec::with_capacity(total);
        let mut at = 0;
        for &(flow, n) in group {
            self.stamp(flow, at, n);
            owners.extend(std::iter::repeat_n(flow, n));
            at += n;
        }
        let packets: Vec<&[u8]> = self.scratch[..total].iter().map(Vec::as_slice).collect();
        let dsts = &self.dsts;
        let went = send_batch(self.sender.sockets[socket].as_fd(), &packets, |i| {
            dsts[owners[i]]
        })
        .map_err(|e| BenchError::socket("UDP sendmmsg", e))?;
        for (i, &flow) in owners.iter().enumerate() {
            if i < went {
                sent[flow] += 1;
            } else {
                // Not sent: the next packet of this flow reuses the number.
                self.sender.next_seq[flow] -= 1;
            }
        }
        Ok(())
    }
}

impl UdpSource<'_> {
    /// [`UdpSource::send_group`] in trains: stops at the first train the socket refuses.
    fn send_trains(
        &mut self,
        socket: usize,
        group: &[(usize, usize)],
        sent: &mut [u64],
    ) -> Result<()> {
        use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrIn, sendmsg};
        let segment = self.scratch[0].len();
        let per_train = (TRAIN_BYTES / segment).clamp(1, TRAIN_MAX.min(self.scratch.len()));
        let Some(mut train) = self.train.take() else {
            return Ok(());
        };
        let mut result = Ok(());
        'flows: for &(flow, n) in group {
            let dst = SockaddrIn::from(self.dsts[flow]);
            let mut left = n;
            while left > 0 {
                let k = left.min(per_train);
                self.stamp(flow, 0, k);
                train.clear();
                for payload in &self.scratch[..k] {
                    train.extend_from_slice(payload);
                }
                let gso_size = segment as u16;
                let control = [ControlMessage::UdpGsoSegments(&gso_size)];
                let fd = self.sender.sockets[socket].as_fd();
                let iov = [std::io::IoSlice::new(&train)];
                match sendmsg(
                    fd.as_raw_fd(),
                    &iov,
                    &control,
                    MsgFlags::empty(),
                    Some(&dst),
                ) {
                    Ok(_) => {
                        sent[flow] += k as u64;
                        left -= k;
                    }
                    Err(e) => {
                        // Not sent: the next train of this flow reuses the numbers.
                        self.sender.next_seq[flow] -= k as u64;
                        if e != nix::errno::Errno::EAGAIN {
                            result = Err(BenchError::socket("UDP GSO sendmsg", e.into()));
                        }
                        break 'flows;
                    }
                }
            }
        }
        self.train = Some(train);
        result
    }
}

impl Source for UdpSource<'_> {
    fn send(&mut self, plan: &[(usize, usize)], sent: &mut [u64]) -> Result<()> {
        if self.sender.sockets.len() == 1 {
            return self.send_group(0, plan, sent);
        }
        for &(flow, n) in plan {
            self.send_group(flow, &[(flow, n)], sent)?;
        }
        Ok(())
    }

    fn first_seq(&self, flow: usize) -> Option<u64> {
        self.first.get(flow).copied()
    }
}

/// What a sink checks about the datagrams of each flow.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    /// The source address each flow's datagrams must come from (its NAT mapping).
    pub src: Option<Vec<SocketAddrV4>>,
    /// The flow each socket belongs to (per-flow sockets).
    pub socket_flow: Option<Vec<usize>>,
}

/// A [`Sink`] counting UDP datagrams on one or more sockets.
pub struct UdpSink<'a> {
    sockets: Vec<&'a UdpSocket>,
    /// What is checked on the sampled datagrams.
    pub expect: Expectations,
    flows: usize,
    batch: RecvBatch,
    seen: u64,
    /// Datagrams verified completely.
    pub verified: u64,
    /// Verification failures.
    pub failed: u64,
    /// The first failures, as text.
    pub failures: Vec<String>,
}

impl<'a> UdpSink<'a> {
    /// A sink for `flows` flows on `sockets`; discards whatever is already queued.
    pub fn new(sockets: Vec<&'a UdpSocket>, flows: usize, expect: Expectations) -> Self {
        let mut sink = UdpSink {
            sockets,
            expect,
            flows,
            batch: RecvBatch::new(2048),
            seen: 0,
            verified: 0,
            failed: 0,
            failures: Vec::new(),
        };
        sink.discard_queued();
        sink
    }

    /// Throws away what the sockets hold.
    pub fn discard_queued(&mut self) {
        for socket in &self.sockets {
            while matches!(self.batch.receive(socket.as_fd()), Ok(n) if n > 0) {}
        }
    }

    /// Receives until every one of the `flows` flows sent something (the datagrams
    /// [`UdpSender::send_one`] sent), and returns each flow's source address.
    pub fn learn_sources(&mut self, timeout: Duration) -> Result<Vec<SocketAddrV4>> {
        let deadline = Instant::now() + timeout;
        let mut sources: Vec<Option<SocketAddrV4>> = vec![None; self.flows];
        while sources.iter().any(Option::is_none) {
            if Instant::now() >= deadline {
                let missing = sources.iter().filter(|s| s.is_none()).count();
                return Err(BenchError::Functional(format!(
                    "{missing} of {} flows never reached the internet host",
                    self.flows
                )));
            }
            self.wait(Duration::from_millis(10));
            for s in 0..self.sockets.len() {
                let n = self
                    .batch
                    .receive(self.sockets[s].as_fd())
                    .map_err(|e| BenchError::socket("UDP receive", e))?;
                for i in 0..n {
                    if let Some(header) = peek(self.batch.datagram(i))
                        && let Some(slot) = sources.get_mut(header.flow as usize)
                    {
                        *slot = Some(self.batch.source(i));
                    }
                }
            }
        }
        Ok(sources.into_iter().flatten().collect())
    }

    fn check(&mut self, socket: usize, i: usize) {
        let datagram = self.batch.datagram(i);
        let problem = match verify(datagram) {
            Err(e) => Some(format!("{e}")),
            Ok(header) => {
                let flow = header.flow as usize;
                if flow >= self.flows {
                    Some(format!("flow {flow} is not one of ours"))
                } else if let Some(src) = &self.expect.src
                    && src[flow] != self.batch.source(i)
                {
                    Some(format!(
                        "flow {flow} arrived from {}, its mapping is {}",
                        self.batch.source(i),
                        src[flow]
                    ))
                } else if let Some(owner) = &self.expect.socket_flow
                    && owner[socket] != flow
                {
                    Some(format!(
                        "flow {flow} arrived on flow {}'s socket",
                        owner[socket]
                    ))
                } else {
                    None
                }
            }
        };
        self.verified += 1;
        if let Some(problem) = problem {
            self.failed += 1;
            if self.failures.len() < KEEP_FAILURES {
                self.failures.push(problem);
            }
        }
    }
}

impl Sink for UdpSink<'_> {
    fn receive(&mut self, flows: &mut [FlowReceived]) -> Result<usize> {
        let readable = if self.sockets.len() > 1 {
            let fds: Vec<_> = self.sockets.iter().map(|s| s.as_fd()).collect();
            wait_readable(&fds, Duration::ZERO)
        } else {
            vec![true]
        };
        let mut total = 0;
        for (s, ready) in readable.into_iter().enumerate() {
            if !ready {
                continue;
            }
            let n = self
                .batch
                .receive(self.sockets[s].as_fd())
                .map_err(|e| BenchError::socket("UDP receive", e))?;
            for i in 0..n {
                let Some(header) = peek(self.batch.datagram(i)) else {
                    continue;
                };
                let Some(flow) = flows.get_mut(header.flow as usize) else {
                    continue;
                };
                flow.count += 1;
                flow.highest = Some(flow.highest.map_or(header.seq, |h| h.max(header.seq)));
                self.seen += 1;
                if self.seen.is_multiple_of(SAMPLE_EVERY) {
                    self.check(s, i);
                }
            }
            total += n;
        }
        Ok(total)
    }

    fn wait(&self, timeout: Duration) {
        let fds: Vec<_> = self.sockets.iter().map(|s| s.as_fd()).collect();
        wait_readable(&fds, timeout);
    }
}

/// The IPv4 address and port of a socket.
pub fn local_v4(socket: &UdpSocket) -> Result<SocketAddrV4> {
    match socket.local_addr() {
        Ok(SocketAddr::V4(addr)) => Ok(addr),
        Ok(other) => Err(BenchError::Functional(format!("not IPv4: {other}"))),
        Err(e) => Err(BenchError::socket("local address", e)),
    }
}
