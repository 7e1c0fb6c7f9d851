//! Encoding a message into a caller's buffer.

use crate::attribute::Attribute;
use crate::integrity;
use crate::message::{HEADER_LEN, MessageType, TransactionId};

/// Why a message could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The buffer is too small for what was asked.
    #[error("buffer too small")]
    BufferTooSmall,
    /// A value longer than an attribute can carry (65,535 bytes), or a message longer than
    /// a STUN header can state.
    #[error("attribute or message too long")]
    TooLong,
    /// An ERROR-CODE outside 300–699.
    #[error("error code {0} outside 300-699")]
    BadErrorCode(u16),
    /// Nothing but FINGERPRINT may follow MESSAGE-INTEGRITY, and nothing FINGERPRINT.
    #[error("attributes after MESSAGE-INTEGRITY or FINGERPRINT")]
    AfterIntegrity,
}

/// Writes one STUN message into a caller's buffer, attribute by attribute; no allocation.
///
/// Padding bytes are zero unless set with [`padding_byte`](Self::padding_byte) (RFC 5769's
/// vectors pad with spaces; re-encoding them byte for byte needs the same bytes).
///
/// ```
/// use stun_core::{Attribute, MessageType, MessageWriter, TransactionId};
///
/// let mut buf = [0u8; 128];
/// let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([1; 12]))?;
/// w.add(&Attribute::ChangeRequest { change_ip: true, change_port: false })?;
/// w.add_fingerprint()?;
/// assert_eq!(w.finish(), 20 + 8 + 8);
/// # Ok::<(), stun_core::WriteError>(())
/// ```
#[derive(Debug)]
pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    id: TransactionId,
    pad: u8,
    sealed: bool,
}

impl<'b> MessageWriter<'b> {
    /// Starts a message: writes the header.
    ///
    /// # Errors
    ///
    /// [`WriteError::BufferTooSmall`] if `buf` cannot hold a header.
    pub fn new(buf: &'b mut [u8], kind: MessageType, id: TransactionId) -> Result<Self, WriteError> {
        let header = buf.get_mut(..HEADER_LEN).ok_or(WriteError::BufferTooSmall)?;
        header[..2].copy_from_slice(&kind.to_u16().to_be_bytes());
        header[2..4].fill(0);
        header[4..].copy_from_slice(&id.header_bytes());
        Ok(Self { buf, len: HEADER_LEN, id, pad: 0, sealed: false })
    }

    /// The byte written into attribute padding from now on.
    #[must_use]
    pub fn padding_byte(mut self, pad: u8) -> Self {
        self.pad = pad;
        self
    }

    /// Bytes written so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether only the header is written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == HEADER_LEN
    }

    /// Bytes an attribute would take, padding included.
    #[must_use]
    pub fn size_of(a: &Attribute<'_>) -> usize {
        4 + ((a.value_len() + 3) & !3)
    }

    fn set_length(&mut self, length: usize) -> Result<(), WriteError> {
        let l = u16::try_from(length - HEADER_LEN).map_err(|_| WriteError::TooLong)?;
        self.buf[2..4].copy_from_slice(&l.to_be_bytes());
        Ok(())
    }

    fn put(&mut self, a: &Attribute<'_>) -> Result<(), WriteError> {
        let value_len = a.value_len();
        let declared = u16::try_from(value_len).map_err(|_| WriteError::TooLong)?;
        let total = Self::size_of(a);
        let end = self.len + total;
        if end - HEADER_LEN > usize::from(u16::MAX) {
            return Err(WriteError::TooLong);
        }
        let out = self.buf.get_mut(self.len..end).ok_or(WriteError::BufferTooSmall)?;
        out[..2].copy_from_slice(&a.typ().to_be_bytes());
        out[2..4].copy_from_slice(&declared.to_be_bytes());
        a.write_value(&mut out[4..4 + value_len], &self.id);
        out[4 + value_len..].fill(self.pad);
        self.len = end;
        Ok(())
    }

    /// Appends an attribute. MESSAGE-INTEGRITY and FINGERPRINT have their own methods, which
    /// compute them.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if it does not fit, is malformed, or comes after the integrity.
    pub fn add(&mut self, a: &Attribute<'_>) -> Result<(), WriteError> {
        if self.sealed {
            return Err(WriteError::AfterIntegrity);
        }
        if let Attribute::ErrorCode { code, .. } = a
            && !(300..700).contains(code)
        {
            return Err(WriteError::BadErrorCode(*code));
        }
        self.put(a)
    }

    /// Appends MESSAGE-INTEGRITY computed with `key` (see
    /// [`Message::verify_integrity`](crate::Message::verify_integrity)).
    ///
    /// # Errors
    ///
    /// [`WriteError`] if it does not fit or comes twice.
    pub fn add_integrity(&mut self, key: &[u8]) -> Result<(), WriteError> {
        if self.sealed {
            return Err(WriteError::AfterIntegrity);
        }
        if self.buf.len() < self.len + 24 {
            return Err(WriteError::BufferTooSmall);
        }
        let hmac = integrity::hmac_sha1(key, &self.buf[..self.len], self.len + 24 - HEADER_LEN);
        self.put(&Attribute::MessageIntegrity(&hmac))?;
        self.sealed = true;
        Ok(())
    }

    /// Appends FINGERPRINT; nothing can follow it.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if it does not fit.
    pub fn add_fingerprint(&mut self) -> Result<(), WriteError> {
        if self.buf.len() < self.len + 8 {
            return Err(WriteError::BufferTooSmall);
        }
        self.set_length(self.len + 8)?;
        let crc = integrity::fingerprint(&self.buf[..self.len]);
        self.put(&Attribute::Fingerprint(crc))?;
        self.sealed = true;
        Ok(())
    }

    /// Writes the final length and returns the message's size.
    #[must_use]
    pub fn finish(mut self) -> usize {
        // Every `put` checked the length fits; this cannot fail.
        let _ = self.set_length(self.len);
        self.len
    }
}
