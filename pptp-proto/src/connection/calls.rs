//! The calls of one control connection (RFC 2637 §3.2): which of our Call IDs belongs to which
//! of the peer's, and how far each call got.

use std::time::Instant;

use crate::call_id::CallId;

/// How far a call got (RFC 2637 §3.2.1, §3.2.2 call states, as far as this crate needs them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallState {
    /// Server: Outgoing-Call-Request received, the owner has not answered yet.
    PendingAnswer,
    /// Client: Outgoing-Call-Request sent, waiting for the reply.
    WaitReply,
    /// The call is up.
    Established,
    /// Client: Call-Clear-Request sent, waiting for the Call-Disconnect-Notify.
    WaitDisconnect,
}

/// One call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Call {
    /// Our Call ID (a server learns it from the owner's answer).
    pub(crate) ours: Option<CallId>,
    /// The peer's Call ID (a client learns it from the reply).
    pub(crate) peers: Option<CallId>,
    /// How far the call got.
    pub(crate) state: CallState,
    /// Server: the connect speed to answer with. Client: unused.
    pub(crate) connect_speed: u32,
    /// Client: when to give up waiting for the reply.
    pub(crate) deadline: Option<Instant>,
}

/// The calls of one control connection, few enough for a linear search.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallTable {
    calls: Vec<Call>,
}

impl CallTable {
    /// The number of calls.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// Adds a call.
    pub(crate) fn insert(&mut self, call: Call) {
        self.calls.push(call);
    }

    /// The call with our Call ID `id`.
    pub(crate) fn by_ours(&mut self, id: CallId) -> Option<&mut Call> {
        self.calls.iter_mut().find(|call| call.ours == Some(id))
    }

    /// The call with the peer's Call ID `id`.
    pub(crate) fn by_peers(&mut self, id: CallId) -> Option<&mut Call> {
        self.calls.iter_mut().find(|call| call.peers == Some(id))
    }

    /// True if one of the calls has our Call ID `id`.
    pub(crate) fn uses_ours(&self, id: CallId) -> bool {
        self.calls.iter().any(|call| call.ours == Some(id))
    }

    /// Removes and returns the call with our Call ID `id`.
    pub(crate) fn remove_ours(&mut self, id: CallId) -> Option<Call> {
        let at = self.calls.iter().position(|call| call.ours == Some(id))?;
        Some(self.calls.swap_remove(at))
    }

    /// Removes and returns the call with the peer's Call ID `id`.
    pub(crate) fn remove_peers(&mut self, id: CallId) -> Option<Call> {
        let at = self.calls.iter().position(|call| call.peers == Some(id))?;
        Some(self.calls.swap_remove(at))
    }

    /// Removes and returns every call.
    pub(crate) fn drain(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.calls)
    }

    /// Read access to every call.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Call> {
        self.calls.iter()
    }

    /// Removes and returns the calls whose deadline is at or before `now`.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<Call> {
        let (expired, kept) = std::mem::take(&mut self.calls)
            .into_iter()
            .partition(|call| call.deadline.is_some_and(|at| at <= now));
        self.calls = kept;
        expired
    }

    /// The earliest call deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.calls.iter().filter_map(|call| call.deadline).min()
    }
}
