//! A short, stable fingerprint of some bytes: FNV-1a (64 bits) in hex.
//!
//! For telling texts apart (an edited migration) and keeping a value out of an identifier (an
//! API key in a rate-limit key), not for security: it is fast and the same everywhere, not
//! collision resistant against an adversary.

use std::fmt::Write as _;

pub(crate) fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = String::with_capacity(16);
    let _ = write!(out, "{hash:016x}");
    out
}
