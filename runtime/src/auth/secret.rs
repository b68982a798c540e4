//! Secrets the login module makes and checks: random values from the operating system's CSPRNG
//! (through aws-lc-rs, the crypto backend `jsonwebtoken` already links), their SHA-256
//! fingerprints, and comparisons whose time does not depend on where two values differ.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// `n` random bytes as lowercase hex (`2n` characters). `None` only when the operating system
/// cannot provide randomness, which callers report as unavailability rather than make up bytes.
pub(crate) fn random_hex(n: usize) -> Option<String> {
    let mut bytes = vec![0u8; n];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(hex(&bytes))
}

/// `N` random bytes.
pub(crate) fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes)
}

/// The SHA-256 of `text`, as lowercase hex. Tokens and keys are stored only as this: with
/// 256 bits of entropy in the secret, a fast hash is as good as a slow one, and lets the
/// store find a row by it.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()).as_ref())
}

/// Whether `a` and `b` are equal, in time independent of their contents (not of their
/// lengths, which are public: every hash compared here is 64 characters).
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_are_long_and_distinct() {
        let a = random_hex(32).expect("randomness");
        let b = random_hex(32).expect("randomness");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn comparison() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
