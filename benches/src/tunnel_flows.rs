//! The tunnel cells' client side, built without going through the `pptp_client` tunnels'
//! per-packet path so that the traffic core stays cheap:
//!
//! - Upstream, an [`UpstreamSession`] per tunnel continues the tunnel's data channel (its
//!   MPPE send key and coherency count, a block of GRE sequence numbers set aside for it) and
//!   precomputes a [`Stream`] of finished GRE packets before each cell; stateless MPPE chains
//!   every packet's key to the previous one, so the stream has to be as long as the cell, and
//!   the [`GreStreamSource`] only copies it into the kernel with `sendmmsg`. What a cell does
//!   not send is skipped afterwards by sending every [`SKIP_STRIDE`]th packet of the rest,
//!   so that the gateway's decryptor follows the chain (it rekeys once per skipped count).
//! - Downstream, a [`GreDataSink`] counts the gateway's MPPE packets per Call ID on a raw socket
//!   of its own, keeps every [`SAMPLE_EVERY`]th with its position in the key chain, and after the
//!   cell decrypts and checks them ([`crate::mppe_chain`]).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::time::Duration;

use mschap::MppeEncryptor;
use pptp_proto::CallId;
use socket2::{Domain, Protocol, Socket, Type};

use crate::clients::TunnelInfo;
use crate::cpu::pin_current_thread;
use crate::error::{BenchError, Result};
use crate::gre_frame::{
    FRAME_OVERHEAD, GreFilter, build_data_frame, filter_program, parse_data_packet,
};
use crate::mmsg::{BATCH, RecvBatch, send_batch, wait_readable};
use crate::mppe_chain::{ChainTracker, ChainWalker};
use crate::payload::{IP_UDP_HEADERS, PayloadTemplate, udp_datagram, verify_udp_datagram};
use crate::traffic::{FlowReceived, MAX_FLOW_WINDOW, Sink, Source};
use crate::udp_flows::force_buffers;

/// IP protocol number of GRE.
const IPPROTO_GRE: i32 = 47;
/// One received MPPE packet in this many per session is kept and checked after the cell.
pub const SAMPLE_EVERY: u64 = 64;
/// The most packets kept per session and cell.
pub const MAX_SAMPLES: usize = 4096;
/// Leftover packets of a stream are skipped by sending one in this many: with a window of at
/// most [`MAX_FLOW_WINDOW`] lost at the end, the gateway's decryptor never faces a gap beyond
/// its 2048-count window.
pub const SKIP_STRIDE: usize = 2000 - MAX_FLOW_WINDOW as usize;
/// The source port of session `i`'s datagrams inside the tunnel.
pub fn client_port(index: usize) -> u16 {
    30000 + index as u16
}
/// Verification failures kept as text.
const KEEP_FAILURES: usize = 8;

/// A raw GRE socket in the current thread's namespace that keeps what `filter` says.
pub fn gre_socket(filter: GreFilter) -> Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_GRE)))
        .map_err(|e| BenchError::socket("raw GRE socket", e))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| BenchError::socket("nonblocking GRE socket", e))?;
    socket
        .attach_filter(&filter_program(filter))
        .map_err(|e| BenchError::socket("GRE socket filter", e))?;
    force_buffers(&socket);
    Ok(socket)
}

/// The generator's side of one tunnel's upstream data channel.
pub struct UpstreamSession {
    /// The flow (session) index.
    pub flow: usize,
    /// The gateway's Call ID: the key of our packets.
    pub peer_call_id: CallId,
    /// The inner source address: the tunnel's address and the session's port.
    pub src: SocketAddrV4,
    encryptor: MppeEncryptor,
    next_gre_seq: u32,
    next_payload_seq: u64,
}

impl UpstreamSession {
    /// Continues `tunnel`'s data channel from where it stands.
    pub fn new(tunnel: &TunnelInfo) -> Self {
        let mut encryptor = MppeEncryptor::new(&tunnel.keys.send, tunnel.mppe);
        // The tunnel has normally sent no data; if it did, catch the count up.
        let mut scratch = [0u8; 1];
        while encryptor.coherency_count() != tunnel.coherency_count {
            encryptor.encrypt(&mut scratch);
        }
        UpstreamSession {
            flow: tunnel.index,
            peer_call_id: tunnel.peer_call_id,
            src: SocketAddrV4::new(tunnel.local_ip, client_port(tunnel.index)),
            encryptor,
            next_gre_seq: tunnel.first_seq,
            next_payload_seq: 0,
        }
    }

    /// Builds the next `count` packets: datagrams of `size` bytes to `dst`.
    pub fn build(&mut self, size: usize, dst: SocketAddrV4, count: usize) -> Stream {
        let template = PayloadTemplate::new(self.flow as u32, size.saturating_sub(IP_UDP_HEADERS));
        let frame_len = FRAME_OVERHEAD + IP_UDP_HEADERS + template.len();
        let mut frames = Vec::with_capacity(frame_len * count);
        let first_payload_seq = self.next_payload_seq;
        for _ in 0..count {
            let datagram = udp_datagram(self.src, dst, &template, self.next_payload_seq);
            build_data_frame(
                &mut frames,
                self.peer_call_id,
                self.next_gre_seq,
                &mut self.encryptor,
                &datagram,
            );
            self.next_gre_seq = self.next_gre_seq.wrapping_add(1);
            self.next_payload_seq += 1;
        }
        Stream {
            frames,
            frame_len,
            count,
            next: 0,
            first_payload_seq,
        }
    }
}

/// Builds streams for every session on both cores (the gateway is idle meanwhile), each
/// session's stream on one thread (its key chain is sequential).
pub fn build_streams(
    sessions: &mut [UpstreamSession],
    size: usize,
    dst: SocketAddrV4,
    per_session: usize,
    cores: &[usize],
) -> Vec<Stream> {
    let threads = cores.len().clamp(1, sessions.len().max(1));
    let per_thread = sessions.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = sessions
            .chunks_mut(per_thread)
            .zip(cores.iter().cycle())
            .map(|(chunk, &core)| {
                scope.spawn(move || {
                    let _ = pin_current_thread(&[core]);
                    chunk
                        .iter_mut()
                        .map(|session| session.build(size, dst, per_session))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Precomputed GRE packets of one session, all the same length, sent in order.
pub struct Stream {
    frames: Vec<u8>,
    frame_len: usize,
    count: usize,
    next: usize,
    first_payload_seq: u64,
}

impl Stream {
    fn frame(&self, i: usize) -> &[u8] {
        &self.frames[i * self.frame_len..(i + 1) * self.frame_len]
    }

    /// Packets not sent yet.
    pub fn remaining(&self) -> usize {
        self.count - self.next
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.frames.len()
    }
}

/// A [`Source`] sending precomputed streams from one raw GRE socket to the gateway.
pub struct GreStreamSource<'a> {
    socket: &'a Socket,
    gateway: SocketAddrV4,
    streams: Vec<Stream>,
}

impl<'a> GreStreamSource<'a> {
    /// Streams `streams[i]` for flow `i`, sent to `gateway`.
    pub fn new(socket: &'a Socket, gateway: Ipv4Addr, streams: Vec<Stream>) -> Self {
        GreStreamSource {
            socket,
            gateway: SocketAddrV4::new(gateway, 0),
            streams,
        }
    }

    /// Sends one packet of every stream (to create or refresh the NAT mappings).
    pub fn send_one_each(&mut self) -> Result<()> {
        let mut sent = vec![0; self.streams.len()];
        let plan: Vec<(usize, usize)> = (0..self.streams.len()).map(|f| (f, 1)).collect();
        for chunk in plan.chunks(BATCH) {
            self.send(chunk, &mut sent)?;
        }
        if sent.iter().any(|&n| n != 1) {
            return Err(BenchError::Functional(
                "the GRE socket refused packets".into(),
            ));
        }
        Ok(())
    }

    /// Sends every [`SKIP_STRIDE`]th packet of what is left, and the last one, so that the
    /// gateway's key chain moves past the rest; paced so that none is dropped. Returns the
    /// packets sent.
    pub fn skip_rest(&mut self) -> Result<u64> {
        let mut picks: Vec<(usize, usize)> = Vec::new();
        for (flow, stream) in self.streams.iter().enumerate() {
            if stream.remaining() == 0 {
                continue;
            }
            let mut at = stream.next + SKIP_STRIDE - 1;
            while at < stream.count - 1 {
                picks.push((flow, at));
                at += SKIP_STRIDE;
            }
            picks.push((flow, stream.count - 1));
        }
        // Round-robin over the sessions, in order within each.
        picks.sort_by_key(|&(flow, at)| ((at - self.streams[flow].next) / SKIP_STRIDE, flow));
        for chunk in picks.chunks(16) {
            let packets: Vec<&[u8]> = chunk
                .iter()
                .map(|&(f, at)| self.streams[f].frame(at))
                .collect();
            let mut done = 0;
            while done < packets.len() {
                let went = send_batch(self.socket.as_fd(), &packets[done..], |_| self.gateway)
                    .map_err(|e| BenchError::socket("GRE sendmmsg", e))?;
                done += went;
                if went == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            // The gateway rekeys up to SKIP_STRIDE times for each: give it time.
            std::thread::sleep(Duration::from_micros(500));
        }
        for stream in &mut self.streams {
            stream.next = stream.count;
        }
        Ok(picks.len() as u64)
    }
}

impl Source for GreStreamSource<'_> {
    fn send(&mut self, plan: &[(usize, usize)], sent: &mut [u64]) -> Result<()> {
        let mut packets: Vec<&[u8]> = Vec::with_capacity(BATCH);
        let mut owners = Vec::with_capacity(BATCH);
        for &(flow, n) in plan {
            let stream = &self.streams[flow];
            let n = n.min(stream.remaining()).min(BATCH - packets.len());
            for i in stream.next..stream.next + n {
                packets.push(stream.frame(i));
                owners.push(flow);
            }
        }
        let went = send_batch(self.socket.as_fd(), &packets, |_| self.gateway)
            .map_err(|e| BenchError::socket("GRE sendmmsg", e))?;
        for &flow in &owners[..went] {
            self.streams[flow].next += 1;
            sent[flow] += 1;
        }
        Ok(())
    }

    fn first_seq(&self, flow: usize) -> Option<u64> {
        let stream = self.streams.get(flow)?;
        Some(stream.first_payload_seq + stream.next as u64)
    }

    fn exhausted(&self, flow: usize) -> bool {
        self.streams.get(flow).is_none_or(|s| s.remaining() == 0)
    }
}

/// The receiver's side of one tunnel's downstream data channel.
pub struct DownstreamSession {
    /// The flow (session) index.
    pub flow: usize,
    /// Where the gateway's datagrams for this session must be addressed inside the tunnel.
    pub client: SocketAddrV4,
    walker: ChainWalker,
    tracker: ChainTracker,
    received: u64,
    samples: Vec<(u64, Vec<u8>)>,
}

impl DownstreamSession {
    /// Follows `tunnel`'s receive direction from its start.
    pub fn new(tunnel: &TunnelInfo) -> Self {
        DownstreamSession {
            flow: tunnel.index,
            client: SocketAddrV4::new(tunnel.local_ip, client_port(tunnel.index)),
            walker: ChainWalker::new(&tunnel.keys.recv, tunnel.mppe),
            tracker: ChainTracker::default(),
            received: 0,
            samples: Vec::new(),
        }
    }
}

/// What checking the kept packets found.
#[derive(Clone, Debug, Default)]
pub struct SampleCheck {
    /// Packets decrypted and checked.
    pub verified: u64,
    /// Packets that failed.
    pub failed: u64,
    /// The first failures, as text.
    pub failures: Vec<String>,
}

/// A [`Sink`] counting the gateway's MPPE packets per session without decrypting them.
pub struct GreDataSink<'a> {
    socket: &'a Socket,
    sessions: &'a mut [DownstreamSession],
    flow_of_call: Vec<u32>,
    batch: RecvBatch,
    /// The source every datagram inside the tunnel must have (the internet host's socket).
    pub expected_src: SocketAddrV4,
}

impl<'a> GreDataSink<'a> {
    /// Counts packets for `sessions` (keyed by our Call IDs `call_ids[i]`) on `socket`.
    pub fn new(
        socket: &'a Socket,
        sessions: &'a mut [DownstreamSession],
        call_ids: &[CallId],
        expected_src: SocketAddrV4,
    ) -> Self {
        let mut flow_of_call = vec![u32::MAX; 65536];
        for (flow, call_id) in call_ids.iter().enumerate() {
            flow_of_call[usize::from(call_id.0)] = flow as u32;
        }
        let mut batch = RecvBatch::new(2048);
        while matches!(batch.receive(socket.as_fd()), Ok(n) if n > 0) {}
        GreDataSink {
            socket,
            sessions,
            flow_of_call,
            batch,
            expected_src,
        }
    }

    /// Decrypts and checks the packets kept during the cell (and forgets them).
    pub fn check_samples(&mut self, cores: &[usize]) -> SampleCheck {
        let expected_src = self.expected_src;
        let threads = cores.len().clamp(1, self.sessions.len().max(1));
        let per_thread = self.sessions.len().div_ceil(threads).max(1);
        let results: Vec<SampleCheck> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .sessions
                .chunks_mut(per_thread)
                .zip(cores.iter().cycle())
                .map(|(chunk, &core)| {
                    scope.spawn(move || {
                        let _ = pin_current_thread(&[core]);
                        let mut check = SampleCheck::default();
                        for session in chunk {
                            check_session(session, expected_src, &mut check);
                        }
                        check
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let mut total = SampleCheck::default();
        for result in results {
            total.verified += result.verified;
            total.failed += result.failed;
            for failure in result.failures {
                if total.failures.len() < KEEP_FAILURES {
                    total.failures.push(failure);
                }
            }
        }
        total
    }
}

fn check_session(
    session: &mut DownstreamSession,
    expected_src: SocketAddrV4,
    check: &mut SampleCheck,
) {
    for (abs, mut packet) in std::mem::take(&mut session.samples) {
        let problem = match session.walker.decrypt_at(abs, &mut packet) {
            Err(e) => Some(format!("session {}: packet {abs}: {e}", session.flow)),
            Ok(plain) => match plain {
                [0x00, 0x21, datagram @ ..] => match verify_udp_datagram(datagram) {
                    Err(e) => Some(format!("session {}: packet {abs}: {e}", session.flow)),
                    Ok(v) if v.dst != session.client || v.src != expected_src => Some(format!(
                        "session {}: packet {abs} goes {} -> {}, expected {expected_src} -> {}",
                        session.flow, v.src, v.dst, session.client
                    )),
                    Ok(v) if v.payload.flow as usize != session.flow => Some(format!(
                        "session {}: packet {abs} carries flow {}'s payload",
                        session.flow, v.payload.flow
                    )),
                    Ok(_) => None,
                },
                _ => Some(format!(
                    "session {}: packet {abs} is not IPv4 inside",
                    session.flow
                )),
            },
        };
        check.verified += 1;
        if let Some(problem) = problem {
            check.failed += 1;
            if check.failures.len() < KEEP_FAILURES {
                check.failures.push(problem);
            }
        }
    }
}

impl Sink for GreDataSink<'_> {
    fn receive(&mut self, flows: &mut [FlowReceived]) -> Result<usize> {
        let n = self
            .batch
            .receive(self.socket.as_fd())
            .map_err(|e| BenchError::socket("GRE receive", e))?;
        for i in 0..n {
            let datagram = self.batch.datagram(i);
            let Some(packet) = parse_data_packet(datagram) else {
                continue;
            };
            let flow = self.flow_of_call[usize::from(packet.call_id.0)];
            let Some(session) = self.sessions.get_mut(flow as usize) else {
                continue;
            };
            if let Some(counter) = flows.get_mut(flow as usize) {
                counter.count += 1;
            }
            session.received += 1;
            if session.received % SAMPLE_EVERY == 1 {
                let abs = session.tracker.position(packet.seq, packet.coherency_count);
                if session.samples.len() < MAX_SAMPLES {
                    session
                        .samples
                        .push((abs, datagram[packet.mppe_at..packet.end].to_vec()));
                }
            }
        }
        Ok(n)
    }

    fn wait(&self, timeout: Duration) {
        wait_readable(&[self.socket.as_fd()], timeout);
    }
}
