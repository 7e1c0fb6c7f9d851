//! Fuzz bodies for `fuzz/` (feature `fuzzing`).

use crate::wire::{Payload, decode, encode};

/// Discovery message decoding: never panics, and an unsigned message that decodes encodes
/// back to the same bytes (signed ones need the sender's secret to be written again).
pub fn discovery_decode(data: &[u8]) {
    if let Ok(m) = decode(data)
        && matches!(m.payload, Payload::PunctureRequest(_))
    {
        assert_eq!(encode(&m, None).as_deref(), Ok(data));
    }
}
