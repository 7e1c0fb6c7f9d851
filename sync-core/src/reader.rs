//! The one cursor the crate's decoders read bytes with (records, sync messages).

/// Bytes being read front to back; a read past the end fails with `short`.
pub(crate) struct Reader<'a, E> {
    /// What is left.
    pub(crate) rest: &'a [u8],
    short: E,
}

impl<'a, E: Copy> Reader<'a, E> {
    pub(crate) fn new(bytes: &'a [u8], short: E) -> Self {
        Self { rest: bytes, short }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], E> {
        if self.rest.len() < n {
            return Err(self.short);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], E> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, E> {
        Ok(self.take(1)?[0])
    }
}
