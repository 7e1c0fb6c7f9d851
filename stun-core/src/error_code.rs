//! STUN error codes (RFC 8489 §14.8, RFC 5780 §7) and their reason phrases, by name.
//!
//! ```
//! use stun_core::error_code;
//!
//! assert_eq!(error_code::UNKNOWN_ATTRIBUTE, 420);
//! assert_eq!(error_code::reason(error_code::UNKNOWN_ATTRIBUTE), "Unknown Attribute");
//! ```

/// 300: the client should use the server in ALTERNATE-SERVER.
pub const TRY_ALTERNATE: u16 = 300;
/// 400: malformed, or a request the server will not serve as asked (PADDING with
/// RESPONSE-PORT, a method other than Binding).
pub const BAD_REQUEST: u16 = 400;
/// 401: missing or wrong credentials.
pub const UNAUTHENTICATED: u16 = 401;
/// 403: not allowed (here: reflecting an answer to a third party's address).
pub const FORBIDDEN: u16 = 403;
/// 420: a comprehension-required attribute the server does not know, or (RFC 5780) a
/// CHANGE-REQUEST the server cannot honour.
pub const UNKNOWN_ATTRIBUTE: u16 = 420;
/// 438: the nonce has expired.
pub const STALE_NONCE: u16 = 438;
/// 500: the server failed.
pub const SERVER_ERROR: u16 = 500;

/// The reason phrase RFC 8489 suggests for `code` (`"Error"` for codes it does not name).
#[must_use]
pub const fn reason(code: u16) -> &'static str {
    match code {
        TRY_ALTERNATE => "Try Alternate",
        BAD_REQUEST => "Bad Request",
        UNAUTHENTICATED => "Unauthenticated",
        FORBIDDEN => "Forbidden",
        UNKNOWN_ATTRIBUTE => "Unknown Attribute",
        STALE_NONCE => "Stale Nonce",
        SERVER_ERROR => "Server Error",
        _ => "Error",
    }
}
