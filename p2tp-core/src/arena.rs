//! The receive buffer: datagrams handed to the application are views ([`Bytes`]) into chunks
//! of [`RECV_CHUNK`] bytes, so receiving costs one allocation per chunk instead of one per
//! datagram (a 1,192-byte allocation and its free were a tenth of the per-packet cost).

use bytes::{Bytes, BytesMut};

/// Bytes the receive buffer allocates at a time (about 13 full-size datagrams).
pub const RECV_CHUNK: usize = 16 * 1024;

/// Cuts received datagrams out of shared chunks. A chunk is freed when the last datagram
/// cut from it is dropped.
#[derive(Debug, Default)]
pub(crate) struct RecvArena {
    chunk: BytesMut,
}

impl RecvArena {
    /// A copy of `data` in the current chunk (a new chunk when it has no room left).
    pub(crate) fn copy(&mut self, data: &[u8]) -> Bytes {
        if self.chunk.capacity() - self.chunk.len() < data.len() {
            self.chunk = BytesMut::with_capacity(RECV_CHUNK.max(data.len()));
        }
        self.chunk.extend_from_slice(data);
        self.chunk.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_exact_and_share_chunks_until_one_is_full() {
        let mut arena = RecvArena::default();
        let a = arena.copy(&[1; 1000]);
        let b = arena.copy(&[2; 1000]);
        assert_eq!((&a[..], &b[..]), (&[1u8; 1000][..], &[2u8; 1000][..]));
        // b sits right after a in the same chunk.
        assert_eq!(b.as_ptr(), a.as_ptr().wrapping_add(1000));
        let mut last = b.clone();
        let mut new_chunks = 0;
        for _ in 0..20 {
            let next = arena.copy(&[3; 1000]);
            new_chunks += usize::from(next.as_ptr() != last.as_ptr().wrapping_add(1000));
            last = next;
        }
        // 22 copies of 1000 bytes fill one 16 KiB chunk (16 of them) and start a second.
        assert_eq!(new_chunks, 1, "one new chunk once the first is full");
        let c = arena.copy(&[4; 1000]);
        // Dropping every view of the first chunk frees it; the others are untouched.
        drop((a, b));
        assert_eq!(&c[..], &[4u8; 1000][..]);
        // A datagram larger than a chunk gets a chunk of its own.
        assert_eq!(arena.copy(&[5; RECV_CHUNK + 1]).len(), RECV_CHUNK + 1);
        assert!(arena.copy(&[]).is_empty());
    }
}
