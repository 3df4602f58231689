//! The deterministic test content that `netns-tool http-serve` sends and
//! `netns-tool fetch` (or the guest's busybox wget + md5sum) verifies: a stream of
//! xorshift64* words seeded through splitmix64, so every (seed, offset) has one byte
//! no matter how the stream is cut into reads.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// A generator of the blob bytes for one seed.
#[derive(Debug, Clone)]
pub struct BlobStream {
    state: u64,
    word: [u8; 8],
    used: usize,
}

impl BlobStream {
    /// The stream for `seed`, at offset 0.
    pub fn new(seed: u64) -> BlobStream {
        // splitmix64 spreads any seed (0 included) to a non-zero xorshift state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        BlobStream {
            state: if z == 0 { 0x2545_F491_4F6C_DD1D } else { z },
            word: [0; 8],
            used: 8,
        }
    }

    fn next_word(&mut self) -> [u8; 8] {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes()
    }

    /// Fills `buf` with the next `buf.len()` bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut rest = buf;
        // Finish the word a previous call started.
        while self.used < 8 {
            let Some((first, tail)) = rest.split_first_mut() else {
                return;
            };
            *first = self.word[self.used];
            self.used += 1;
            rest = tail;
        }
        let mut chunks = rest.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_word());
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            self.word = self.next_word();
            let n = tail.len();
            tail.copy_from_slice(&self.word[..n]);
            self.used = n;
        }
    }
}

/// One blob: `size` bytes of the stream for `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob {
    /// Length in bytes.
    pub size: u64,
    /// The generator's seed.
    pub seed: u64,
}

impl Blob {
    /// The blob of `size` bytes for `seed`.
    pub fn new(size: u64, seed: u64) -> Blob {
        Blob { size, seed }
    }

    /// All its bytes in memory (for small blobs).
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = vec![0; usize::try_from(self.size).unwrap_or(usize::MAX)];
        BlobStream::new(self.seed).fill(&mut out);
        out
    }

    /// Its md5 in lowercase hex, computed by `md5sum` (what the guest compares with
    /// busybox md5sum after wget).
    pub fn md5(&self) -> Result<String> {
        let mut child = Command::new("md5sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                command: "md5sum".into(),
                source,
            })?;
        let io_err = |source| Error::Io {
            path: "md5sum stdin".into(),
            source,
        };
        if let Some(mut stdin) = child.stdin.take() {
            let mut stream = BlobStream::new(self.seed);
            let mut buf = vec![0u8; 64 * 1024];
            let mut left = self.size;
            while left > 0 {
                let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                let chunk = &mut buf[..n];
                stream.fill(chunk);
                stdin.write_all(chunk).map_err(io_err)?;
                left -= n as u64;
            }
        }
        let out = child.wait_with_output().map_err(|source| Error::Io {
            path: "md5sum".into(),
            source,
        })?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.split_whitespace().next() {
            Some(sum) if out.status.success() && sum.len() == 32 => Ok(sum.to_owned()),
            _ => Err(Error::BadOutput {
                tool: "md5sum".into(),
                output: text.into_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_does_not_depend_on_how_it_is_cut() {
        let mut whole = vec![0u8; 1000];
        BlobStream::new(7).fill(&mut whole);
        let mut pieces = vec![0u8; 1000];
        let mut stream = BlobStream::new(7);
        let mut at = 0;
        for len in [1, 3, 8, 13, 0, 200, 7, 768] {
            stream.fill(&mut pieces[at..at + len]);
            at += len;
        }
        assert_eq!(at, 1000);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn seeds_give_different_streams() {
        assert_ne!(Blob::new(64, 1).bytes(), Blob::new(64, 2).bytes());
        assert_eq!(Blob::new(64, 1).bytes(), Blob::new(64, 1).bytes());
        assert_eq!(Blob::new(4, 0).bytes(), Blob::new(8, 0).bytes()[..4]);
    }

    #[test]
    fn generator_is_pinned() {
        // A change of generator must be deliberate: expectations in tests depend on it.
        assert_eq!(
            Blob::new(8, 0).bytes(),
            [0xd0, 0x82, 0x06, 0x55, 0x0d, 0xb4, 0xbc, 0x7b]
        );
        // This md5 is what busybox md5sum computed in the client guest after wget
        // fetched the blob from netns-tool http-serve through a PPTP tunnel.
        assert_eq!(
            Blob::new(2_000_000, 5).md5().unwrap(),
            "2751d03cbf75a82eb48b6522f2b61bcc"
        );
    }

    #[test]
    fn md5_matches_md5sum_of_the_bytes() {
        // md5("") is the well-known d41d8cd98f00b204e9800998ecf8427e.
        assert_eq!(
            Blob::new(0, 3).md5().unwrap(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        let a = Blob::new(100_000, 3).md5().unwrap();
        let b = Blob::new(100_000, 4).md5().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
