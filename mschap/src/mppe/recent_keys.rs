//! The session keys of the last few coherency counts of a stateless MPPE receiver, so that a
//! packet overtaken on the way (GRE reordering) can still be decrypted.
//!
//! RFC 3078 §8.1 lets a stateless receiver rekey forward to any coherency count, but keys only
//! chain forward: a packet whose count is behind the last one cannot be decrypted from the
//! current key. Linux `ppp_mppe` drops such packets. Keeping the last [`RECENT_KEYS`] keys
//! (16 bytes each) lets us deliver them instead; the GRE layer makes sure each sequence number
//! is delivered once.

use super::header::COUNT_MASK;

/// How many past coherency counts keep their key.
pub const RECENT_KEYS: u16 = 64;

/// A ring of the keys of the most recent coherency counts.
pub(crate) struct RecentKeys {
    keys: [[u8; 16]; RECENT_KEYS as usize],
    /// The newest count recorded.
    newest: u16,
    /// How many counts up to `newest` have their key (at most [`RECENT_KEYS`]).
    depth: u16,
}

impl RecentKeys {
    /// Nothing recorded yet.
    pub(crate) fn new() -> Self {
        Self {
            keys: [[0; 16]; RECENT_KEYS as usize],
            newest: 0,
            depth: 0,
        }
    }

    fn slot(count: u16) -> usize {
        usize::from(count % RECENT_KEYS)
    }

    /// Records `key` as the key of `count`, the count after the newest.
    pub(crate) fn record(&mut self, count: u16, key: &[u8]) {
        let slot = &mut self.keys[Self::slot(count)];
        let n = key.len().min(16);
        slot[..n].copy_from_slice(&key[..n]);
        self.newest = count;
        self.depth = (self.depth + 1).min(RECENT_KEYS);
    }

    /// The key of `count` if it is one of the recorded counts *before* the newest.
    pub(crate) fn get(&self, count: u16) -> Option<&[u8; 16]> {
        let behind = self.newest.wrapping_sub(count) & COUNT_MASK;
        (behind >= 1 && behind < self.depth).then(|| &self.keys[Self::slot(count)])
    }
}
