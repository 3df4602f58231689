//! Our PPTP call IDs: random, never 0, unique across the whole gateway.
//!
//! Random IDs keep clients behind one NAT from colliding and make GRE harder to
//! spoof blindly (design notes); gateway-wide uniqueness lets the data plane
//! demultiplex GRE by call ID alone (it still checks the peer's address) and
//! shard calls over workers by `call_id % workers`.

use std::collections::HashSet;

use pptp_proto::CallId;

/// The set of call IDs in use.
#[derive(Debug, Default)]
pub struct CallIds {
    in_use: HashSet<u16>,
}

impl CallIds {
    /// Picks a free random ID; `None` when all 65535 are taken.
    pub fn allocate(&mut self) -> Option<CallId> {
        if self.in_use.len() >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            let mut bytes = [0u8; 2];
            if getrandom::fill(&mut bytes).is_err() {
                bytes = (self.in_use.len() as u16).wrapping_mul(40503).to_be_bytes();
            }
            let id = u16::from_be_bytes(bytes);
            if id != 0 && self.in_use.insert(id) {
                return Some(CallId(id));
            }
        }
    }

    /// Gives an ID back.
    pub fn release(&mut self, id: CallId) {
        self.in_use.remove(&id.0);
    }

    /// How many are taken.
    pub fn len(&self) -> usize {
        self.in_use.len()
    }

    /// Whether none is taken.
    pub fn is_empty(&self) -> bool {
        self.in_use.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_nonzero_and_reusable() {
        let mut ids = CallIds::default();
        let mut seen = HashSet::new();
        for _ in 0..5000 {
            let id = ids.allocate().unwrap();
            assert_ne!(id.0, 0);
            assert!(seen.insert(id.0));
        }
        let first = *seen.iter().next().unwrap();
        ids.release(CallId(first));
        assert_eq!(ids.len(), 4999);
    }
}
