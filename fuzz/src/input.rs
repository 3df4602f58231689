//! The script format of the state-machine targets: a cursor that reads operations and
//! length-prefixed chunks from the fuzz input, and the writer the seed generator uses.
//!
//! A chunk is a big-endian 16-bit length followed by that many octets; a length that runs past
//! the end of the input takes what is left. Reading past the end yields `None`, which ends the
//! script: every input is a valid script.

/// A cursor over the fuzz input.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { rest: data }
    }

    /// The next octet.
    pub fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(first)
    }

    /// The next two octets, big-endian.
    pub fn u16(&mut self) -> Option<u16> {
        let high = self.byte()?;
        let low = self.byte()?;
        Some(u16::from_be_bytes([high, low]))
    }

    /// Up to `n` octets (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        taken
    }

    /// Exactly `N` octets, zero-padded at the end of the input.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for (slot, byte) in out.iter_mut().zip(self.take(N)) {
            *slot = *byte;
        }
        out
    }

    /// A length-prefixed chunk.
    pub fn chunk(&mut self) -> Option<&'a [u8]> {
        let len = self.u16()?;
        Some(self.take(usize::from(len)))
    }

    /// Whether the input is used up.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Writes a script in the format [`Input`] reads (for seeds).
#[derive(Debug, Clone, Default)]
pub struct Script {
    bytes: Vec<u8>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Script::default()
    }

    /// Appends one octet (an operation code or an argument).
    pub fn byte(&mut self, byte: u8) -> &mut Self {
        self.bytes.push(byte);
        self
    }

    /// Appends raw octets.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(bytes);
        self
    }

    /// Appends a length-prefixed chunk (cut at 65535 octets).
    pub fn chunk(&mut self, bytes: &[u8]) -> &mut Self {
        let bytes = bytes.get(..usize::from(u16::MAX)).unwrap_or(bytes);
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(bytes);
        self
    }

    /// The script.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_round_trips_through_input() {
        let mut script = Script::new();
        script.byte(7).chunk(b"abc").chunk(&[]);
        let bytes = script.into_bytes();
        let mut input = Input::new(&bytes);
        assert_eq!(input.byte(), Some(7));
        assert_eq!(input.chunk(), Some(&b"abc"[..]));
        assert_eq!(input.chunk(), Some(&[][..]));
        assert_eq!(input.chunk(), None);
        assert!(input.is_empty());
    }

    #[test]
    fn short_chunk_takes_what_is_left() {
        let mut input = Input::new(&[0x00, 0x09, 1, 2]);
        assert_eq!(input.chunk(), Some(&[1u8, 2][..]));
        assert_eq!(input.array::<2>(), [0, 0]);
    }
}
