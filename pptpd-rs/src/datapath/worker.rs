//! One data-path worker: a thread that owns a GRE socket (filtered to its share
//! of call IDs), one TUN queue, and the data-plane state of its sessions.
//!
//! Each loop turn it applies commands from the control plane, drains GRE in
//! `recvmmsg` batches (decrypting in place and writing IP packets to its TUN
//! queue, passing control frames up), drains its TUN queue into the `sendmmsg`
//! ring (encrypting in place), takes packets other workers handed over for its
//! sessions, flushes, sends owed acknowledgements, and sleeps in `poll` when
//! there is nothing to do. Session lookups are an array index by call ID and a
//! hash map by client address; no lock and no allocation per packet.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use pptp_proto::CallId;
use pptp_proto::gre::{GreHeader, Ipv4Envelope};
use tracing::{debug, warn};

use super::frame_socket::{FrameSocket, LinkRoute};
use super::gre_socket::{BATCH, GreSocket, RecvRing, SLOT_SIZE, SendRing};
use super::handoff::{Handoff, HandoffBuffer};
use super::session::{DataSession, HEADROOM, Upstream};
use super::tun_device::{TunQueue, TunRecvError};
use super::tun_read::{self, SplitSlots, TunRead};
use super::wake::Wake;
use super::{Command, DataEvent, EventSender};

/// Where a packet read from the TUN device waits to be encapsulated.
#[derive(Clone, Copy)]
enum Staged<'a> {
    /// In the current send slot, behind the headroom; this many bytes.
    InSlot(usize),
    /// In the staging buffer of split segment trains, at this offset, this many bytes.
    Staging(usize, usize),
    /// Alone in the TUN queue's read buffer (offload mode), where the read put it; this
    /// many bytes.
    TunRead(usize),
    /// In a buffer handed over by another worker.
    Buffer(&'a [u8]),
}

/// Packets one offloaded TUN read may split into.
const STAGING: usize = tun_read::MAX_SPLIT;
/// How long an acknowledgement may wait for a data packet to ride on.
const ACK_DELAY: Duration = Duration::from_millis(1);
/// Turns of GRE batches or TUN reads before the loop looks at the other side.
const BURST: usize = 4;

struct Slot {
    session: DataSession,
    events: EventSender,
    ack_deadline: Option<Instant>,
    /// Where the session's data goes as finished frames (`gre-direct`), if known.
    link_route: Option<LinkRoute>,
}

/// Where downstream packets for a client address go.
#[derive(Clone, Copy)]
struct RouteEntry {
    owner: usize,
    call_id: CallId,
}

/// The state one worker thread owns.
pub struct Worker {
    index: usize,
    gre: GreSocket,
    /// The packet socket for sessions with a link route (`gre-direct yes`).
    frames: Option<FrameSocket>,
    tun: TunQueue,
    recv: RecvRing,
    send: SendRing,
    slots: Vec<Option<Slot>>,
    free_slots: Vec<u32>,
    by_call: Box<[u32]>,
    routes: HashMap<Ipv4Addr, RouteEntry>,
    commands: Receiver<Command>,
    wake: Arc<Wake>,
    handoff: Arc<Handoff>,
    peers: Vec<Arc<Handoff>>,
    acks: Vec<u32>,
    staging: Box<[u8]>,
    staging_sizes: Box<[usize]>,
    /// A Stop command arrived (or the control plane went away).
    stopping: bool,
}

impl Worker {
    /// Assembles a worker sending on `gre` and, for sessions with a link route,
    /// on `frames`; `peers[i]` is worker `i`'s hand-off queue (its own included).
    pub fn new(
        index: usize,
        (gre, frames): (GreSocket, Option<FrameSocket>),
        tun: TunQueue,
        commands: Receiver<Command>,
        wake: Arc<Wake>,
        handoff: Arc<Handoff>,
        peers: Vec<Arc<Handoff>>,
    ) -> Self {
        Self {
            index,
            send: SendRing::new(gre.ttl()),
            gre,
            frames,
            tun,
            recv: RecvRing::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            by_call: vec![0u32; 65536].into_boxed_slice(),
            routes: HashMap::new(),
            commands,
            wake,
            handoff,
            peers,
            acks: Vec::new(),
            staging: vec![0u8; STAGING * SLOT_SIZE].into_boxed_slice(),
            staging_sizes: vec![0usize; STAGING].into_boxed_slice(),
            stopping: false,
        }
    }

    /// Runs until a [`Command::Stop`] arrives or the control plane goes away.
    pub fn run(mut self) {
        let mut now = Instant::now();
        loop {
            self.wake.begin_turn();
            let mut busy = self.apply_commands();
            if self.stopping {
                break;
            }
            busy |= self.upstream(now);
            busy |= self.downstream(now);
            busy |= self.drain_handoff(now);
            self.flush();
            self.send_due_acks(now);
            self.flush();
            if !busy {
                self.sleep(now);
            }
            now = Instant::now();
        }
        debug!(worker = self.index, "data-path worker stopped");
    }

    fn now_secs(&self, now: Instant) -> u64 {
        super::clock::coarse_secs(now)
    }

    fn slot_index(&self, call_id: CallId) -> Option<usize> {
        match self.by_call[usize::from(call_id.0)] {
            0 => None,
            i => Some(i as usize - 1),
        }
    }

    fn slot_mut(&mut self, call_id: CallId) -> Option<&mut Slot> {
        let i = self.slot_index(call_id)?;
        self.slots.get_mut(i)?.as_mut()
    }

    /// Applies queued commands; returns whether there were any. A Stop (or a control plane
    /// that went away) sets `stopping`.
    fn apply_commands(&mut self) -> bool {
        let mut did = false;
        loop {
            let command = match self.commands.try_recv() {
                Ok(c) => c,
                Err(TryRecvError::Empty) => return did,
                Err(TryRecvError::Disconnected) => {
                    self.stopping = true;
                    return did;
                }
            };
            did = true;
            match command {
                Command::AddSession { session, events } => {
                    let call = session.call_id;
                    let slot = Slot {
                        session,
                        events,
                        ack_deadline: None,
                        link_route: None,
                    };
                    let i = match self.free_slots.pop() {
                        Some(i) => {
                            self.slots[i as usize] = Some(slot);
                            i
                        }
                        None => {
                            self.slots.push(Some(slot));
                            (self.slots.len() - 1) as u32
                        }
                    };
                    self.by_call[usize::from(call.0)] = i + 1;
                }
                Command::SetKeys {
                    call_id,
                    send,
                    recv,
                    config,
                } => {
                    if let Some(slot) = self.slot_mut(call_id) {
                        slot.session.set_crypto(&send, &recv, config);
                    }
                }
                Command::SetCleartext { call_id } => {
                    if let Some(slot) = self.slot_mut(call_id) {
                        slot.session.set_cleartext();
                    }
                }
                Command::ResetEncryptor { call_id } => {
                    if let Some(slot) = self.slot_mut(call_id) {
                        slot.session.reset_encryptor();
                    }
                }
                Command::SendFrame { call_id, frame } => {
                    if self.send.is_full() {
                        self.flush();
                    }
                    let Some(i) = self.slot_index(call_id) else {
                        continue;
                    };
                    let Some(Some(slot)) = self.slots.get_mut(i) else {
                        continue;
                    };
                    if let Some(buf) = self.send.slot()
                        && let Some((start, len)) = slot.session.encapsulate_frame(buf, &frame)
                    {
                        slot.ack_deadline = None;
                        let peer = slot.session.peer_addr;
                        self.send.commit(peer, start, len);
                    }
                }
                Command::SetLinkRoute { call_id, route } => {
                    if let Some(slot) = self.slot_mut(call_id) {
                        slot.link_route = route;
                    }
                }
                Command::RemoveSession { call_id } => {
                    if let Some(i) = self.slot_index(call_id) {
                        self.slots[i] = None;
                        self.free_slots.push(i as u32);
                        self.by_call[usize::from(call_id.0)] = 0;
                    }
                }
                Command::RouteAdd {
                    client,
                    call_id,
                    owner,
                } => {
                    self.routes.insert(client, RouteEntry { owner, call_id });
                }
                Command::RouteDel { client, call_id } => {
                    if self
                        .routes
                        .get(&client)
                        .is_some_and(|r| r.call_id == call_id)
                    {
                        self.routes.remove(&client);
                    }
                }
                Command::Stop => {
                    self.stopping = true;
                    return did;
                }
            }
        }
    }

    /// GRE → TUN. Returns whether anything arrived.
    fn upstream(&mut self, now: Instant) -> bool {
        let now_secs = self.now_secs(now);
        let mut any = false;
        for _ in 0..BURST {
            let n = match self.recv.receive(self.gre.as_raw_fd()) {
                Ok(n) => n,
                Err(e) => {
                    warn!(worker = self.index, "GRE receive failed: {e}");
                    return any;
                }
            };
            any |= n > 0;
            for i in 0..n {
                self.upstream_one(i, now, now_secs);
            }
            if let Err(e) = self.tun.flush() {
                debug!(worker = self.index, "TUN write failed: {e}");
            }
            if n < BATCH {
                break;
            }
        }
        any
    }

    fn upstream_one(&mut self, i: usize, now: Instant, now_secs: u64) {
        let datagram = self.recv.datagram_mut(i);
        let Ok((envelope, ip_len)) = Ipv4Envelope::parse(datagram) else {
            return;
        };
        let Some(gre) = datagram.get_mut(ip_len..) else {
            return;
        };
        let Ok((header, header_len)) = GreHeader::parse(gre) else {
            return;
        };
        let mut index = self.slot_index(header.call_id);
        if index.is_none() {
            // The client may answer the Outgoing-Call-Reply before this turn has taken the
            // command that adds its call: look at the commands once more before dropping.
            self.apply_commands();
            index = self.slot_index(header.call_id);
        }
        let Some(index) = index else { return };
        let datagram = self.recv.datagram_mut(i);
        let Some(gre) = datagram.get_mut(ip_len..) else {
            return;
        };
        let Some(Some(slot)) = self.slots.get_mut(index) else {
            return;
        };
        if slot.session.peer_addr != envelope.src {
            // RFC 2637 §4: GRE for a call comes from the control connection's peer only.
            return;
        }
        let verdict = slot.session.decapsulate(gre, &header, header_len, now_secs);
        if slot.session.ack_owed() && slot.ack_deadline.is_none() {
            slot.ack_deadline = Some(now + ACK_DELAY);
            self.acks.push(index as u32);
        }
        match verdict {
            Upstream::ToTun { start, len } => {
                if let Some(packet) = gre.get(start..start + len)
                    && let Err(e) = self.tun.send(packet)
                {
                    debug!(worker = self.index, "TUN write failed: {e}");
                }
            }
            Upstream::ToControl { start, len } => {
                if let Some(frame) = gre.get(start..start + len) {
                    let call_id = slot.session.call_id;
                    let _ = slot
                        .events
                        .try_send((call_id, DataEvent::Frame(frame.to_vec())));
                }
            }
            Upstream::ResyncNeeded => {
                let call_id = slot.session.call_id;
                let _ = slot.events.try_send((call_id, DataEvent::ResyncNeeded));
            }
            Upstream::Nothing | Upstream::Drop(_) => {}
        }
    }

    /// TUN → GRE. Returns whether anything was read.
    fn downstream(&mut self, now: Instant) -> bool {
        if self.tun.offload() {
            return self.downstream_offload(now);
        }
        let now_secs = self.now_secs(now);
        let mut any = false;
        for _ in 0..BURST * BATCH {
            if self.send.is_full() {
                self.flush();
            }
            let Some(buf) = self.send.slot() else {
                return any;
            };
            let n = match self.tun.try_recv(&mut buf[HEADROOM..]) {
                Ok(Some(n)) => n,
                Ok(None) => return any,
                Err(e) => {
                    warn!(worker = self.index, "TUN read failed: {e}");
                    return any;
                }
            };
            any = true;
            self.forward_downstream(Staged::InSlot(n), now_secs);
        }
        any
    }

    /// TUN → GRE with offload: a read of one packet is encrypted from the read buffer
    /// straight into a send slot; a train of segments is split into the staging slots and
    /// encrypted from there.
    fn downstream_offload(&mut self, now: Instant) -> bool {
        let now_secs = self.now_secs(now);
        let mut any = false;
        for _ in 0..BATCH {
            let read = self.tun.recv_offload(SplitSlots {
                buf: &mut self.staging,
                slot_size: SLOT_SIZE,
                offset: HEADROOM,
                sizes: &mut self.staging_sizes,
            });
            match read {
                Ok(None) => return any,
                Ok(Some(TunRead::Packet(len))) => {
                    any = true;
                    self.forward_downstream(Staged::TunRead(len), now_secs);
                }
                Ok(Some(TunRead::Split(n))) => {
                    any = true;
                    for k in 0..n {
                        let at = k * SLOT_SIZE + HEADROOM;
                        let staged = Staged::Staging(at, self.staging_sizes[k]);
                        self.forward_downstream(staged, now_secs);
                    }
                }
                Err(TunRecvError::Malformed(e)) => {
                    any = true;
                    debug!(worker = self.index, "TUN read dropped: {e}");
                }
                Err(TunRecvError::Io(e)) => {
                    warn!(worker = self.index, "TUN read failed: {e}");
                    return any;
                }
            }
        }
        any
    }

    /// Sends a packet read from the TUN device to its session: encrypted into the send ring
    /// here, or handed to the worker that owns it.
    fn forward_downstream(&mut self, staged: Staged<'_>, now_secs: u64) {
        if self.send.is_full() {
            self.flush();
        }
        let packet = match staged {
            Staged::InSlot(len) => self
                .send
                .slot()
                .and_then(|buf| buf.get(HEADROOM..HEADROOM + len)),
            outside => staged_outside(outside, &self.tun, &self.staging),
        };
        let Some(packet) = packet else { return };
        let Some(dst) = ipv4_destination(packet) else {
            return;
        };
        let Some(route) = self.routes.get(&dst).copied() else {
            return;
        };
        if route.owner != self.index {
            if let Some(peer) = self.peers.get(route.owner) {
                peer.push(route.call_id, packet);
            }
            return;
        }
        self.encapsulate_into_slot(route.call_id, staged, now_secs);
    }

    /// Encrypts `packet` into the current send slot and frames it.
    fn encapsulate_into_slot(&mut self, call_id: CallId, packet: Staged<'_>, now_secs: u64) {
        let Some(i) = self.slot_index(call_id) else {
            return;
        };
        let Some(Some(slot)) = self.slots.get_mut(i) else {
            return;
        };
        let Some(buf) = self.send.slot() else { return };
        let sealed = match packet {
            Staged::InSlot(ip_len) => slot.session.encapsulate(buf, ip_len, now_secs),
            outside => staged_outside(outside, &self.tun, &self.staging)
                .and_then(|packet| slot.session.encapsulate_from(buf, packet, now_secs)),
        };
        if let Some((start, len)) = sealed {
            slot.ack_deadline = None;
            match &slot.link_route {
                Some(route) => self.send.commit_framed(route, start, len),
                None => self.send.commit(slot.session.peer_addr, start, len),
            }
        }
    }

    /// Packets other workers read from their TUN queues for our sessions.
    fn drain_handoff(&mut self, now: Instant) -> bool {
        let now_secs = self.now_secs(now);
        let mut any = false;
        while let Some(HandoffBuffer { call_id, len, data }) = self.handoff.pop() {
            any = true;
            if self.send.is_full() {
                self.flush();
            }
            if let Some(packet) = data.get(..len) {
                self.encapsulate_into_slot(call_id, Staged::Buffer(packet), now_secs);
            }
            self.handoff.recycle(data);
        }
        any
    }

    fn flush(&mut self) {
        if !self.send.is_empty()
            && let Err(e) = self.send.flush(&self.gre, self.frames.as_ref())
        {
            warn!(worker = self.index, "GRE send failed: {e}");
        }
    }

    /// Sends acknowledgement-only packets whose delay ran out without a data packet to ride on.
    fn send_due_acks(&mut self, now: Instant) {
        let mut k = 0;
        while k < self.acks.len() {
            let index = self.acks[k] as usize;
            let Some(Some(slot)) = self.slots.get_mut(index) else {
                self.acks.swap_remove(k);
                continue;
            };
            match slot.ack_deadline {
                Some(deadline) if deadline > now && slot.session.ack_owed() => {
                    k += 1;
                    continue;
                }
                _ => {}
            }
            slot.ack_deadline = None;
            self.acks.swap_remove(k);
            if !slot.session.ack_owed() {
                continue;
            }
            if self.send.is_full()
                && let Err(e) = self.send.flush(&self.gre, self.frames.as_ref())
            {
                warn!(worker = self.index, "GRE send failed: {e}");
            }
            if let Some(buf) = self.send.slot()
                && let Some((start, len)) = slot.session.ack_only(buf)
            {
                let peer = slot.session.peer_addr;
                self.send.commit(peer, start, len);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.acks
            .iter()
            .filter_map(|&i| self.slots.get(i as usize)?.as_ref()?.ack_deadline)
            .min()
    }

    fn sleep(&mut self, now: Instant) {
        if !self.wake.try_sleep() {
            return;
        }
        let timeout = match self.next_deadline() {
            Some(d) => {
                let ms = d.saturating_duration_since(now).as_micros().div_ceil(1000);
                PollTimeout::try_from(ms.min(1000) as u32).unwrap_or(PollTimeout::NONE)
            }
            None => PollTimeout::from(1000u16),
        };
        let mut fds = [
            PollFd::new(self.gre.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.tun.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.wake.as_fd(), PollFlags::POLLIN),
        ];
        let _ = poll(&mut fds, timeout);
        self.wake.woke();
    }
}

/// The bytes of a staged packet that does not lie in the send slot (`None` for one that does).
fn staged_outside<'a>(
    staged: Staged<'a>,
    tun: &'a TunQueue,
    staging: &'a [u8],
) -> Option<&'a [u8]> {
    match staged {
        Staged::InSlot(_) => None,
        Staged::Staging(at, len) => staging.get(at..at + len),
        Staged::TunRead(len) => tun.read_packet(len),
        Staged::Buffer(packet) => Some(packet),
    }
}

/// The destination of an IPv4 packet, if it is one.
fn ipv4_destination(packet: &[u8]) -> Option<Ipv4Addr> {
    if packet.first()? >> 4 != 4 {
        return None;
    }
    let d: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
    Some(Ipv4Addr::from(d))
}
