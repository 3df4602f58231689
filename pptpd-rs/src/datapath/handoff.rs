//! Hand-off of downstream packets between workers.
//!
//! The kernel picks the TUN queue a packet leaves on; usually that is the queue
//! of the worker owning the destination's session (see `tun_steering` and
//! `tun_device`), but not always: without the steering program, or for a
//! moment after a client's address moves to another call. A worker that reads a packet for another worker's session copies it
//! into a buffer from the owner's free list and queues it to the owner, so that
//! only the owner ever touches the session's cipher state. Buffers are
//! allocated once and recycled: nothing is allocated per packet. When the
//! owner falls behind and its free list is empty, the packet is dropped, as a
//! full device queue would drop it.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use pptp_proto::CallId;

use super::gre_socket::SLOT_SIZE;
use super::wake::Wake;

/// Buffers in flight towards one worker.
pub const HANDOFF_DEPTH: usize = 1024;

/// A packet queued for another worker.
pub struct HandoffBuffer {
    /// The session (by our call ID) the packet is for.
    pub call_id: CallId,
    /// Length of the IP packet at the start of `data`.
    pub len: usize,
    /// The buffer; return it with [`Handoff::recycle`].
    pub data: Box<[u8; SLOT_SIZE]>,
}

/// The inbound hand-off queue of one worker, with its free list.
pub struct Handoff {
    queue: ArrayQueue<HandoffBuffer>,
    free: ArrayQueue<Box<[u8; SLOT_SIZE]>>,
    wake: Arc<Wake>,
}

impl Handoff {
    /// A queue of [`HANDOFF_DEPTH`] buffers that wakes the owner through `wake`.
    pub fn new(wake: Arc<Wake>) -> Self {
        let free = ArrayQueue::new(HANDOFF_DEPTH);
        for _ in 0..HANDOFF_DEPTH {
            let _ = free.push(Box::new([0u8; SLOT_SIZE]));
        }
        Self {
            queue: ArrayQueue::new(HANDOFF_DEPTH),
            free,
            wake,
        }
    }

    /// Copies `packet` into a free buffer and queues it; drops it when none is free.
    pub fn push(&self, call_id: CallId, packet: &[u8]) -> bool {
        let Some(mut data) = self.free.pop() else {
            return false;
        };
        let len = packet.len().min(SLOT_SIZE);
        data[..len].copy_from_slice(&packet[..len]);
        match self.queue.push(HandoffBuffer { call_id, len, data }) {
            Ok(()) => {
                self.wake.notify();
                true
            }
            Err(rejected) => {
                let _ = self.free.push(rejected.data);
                false
            }
        }
    }

    /// The next queued packet (owner only).
    pub fn pop(&self) -> Option<HandoffBuffer> {
        self.queue.pop()
    }

    /// Gives a buffer back to the free list (owner only).
    pub fn recycle(&self, data: Box<[u8; SLOT_SIZE]>) {
        let _ = self.free.push(data);
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
