//! List cursors: the position of a page's last item (its sort keys' values, then its key),
//! opaque to clients and tamper-evident.
//!
//! A cursor is `base64url(payload) "." base64url(tag)`: the payload is the position as a JSON
//! array, the tag the first 16 bytes of an HMAC-SHA-256 (aws-lc-rs) over a version, the
//! contract, the sort (`-priority,title`) and the payload, under the app's [`CursorKey`]. So a
//! cursor edited by hand, made by another app (another key) or for another list (another
//! contract or sort) fails the check and is a 400 naming `cursor`; no value of it reaches a
//! statement unless the server wrote it. It is signed, not encrypted: its values are those of
//! an item the client was just sent (sortable fields are never write-only).
//!
//! Filters are not part of the check: a position is a point in the sort order whatever the
//! filters, so a client may change them between pages and still get the items after it.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::resource::{FieldKind, FieldValue};

/// What the tag covers before the list's own data: the format's version.
const CONTEXT: &[u8] = b"cmmv list cursor v1";

/// Bytes of the HMAC kept in a cursor: 128 bits, beyond guessing, and a shorter URL.
const TAG_BYTES: usize = 16;

/// The key an app signs and checks its cursors with.
///
/// From `CMMV_CURSOR_SECRET` when set (at least 32 bytes; every instance behind one load
/// balancer must share it, or a cursor from one is refused by another), else 32 random bytes
/// drawn when the app is built: cursors then stop working when the process restarts, and a
/// client starts again from the first page.
#[derive(Clone)]
pub struct CursorKey(Arc<hmac::Key>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    /// A key from a secret (the setting's bytes).
    pub fn from_secret(secret: &[u8]) -> Self {
        CursorKey(Arc::new(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    /// A key of 32 random bytes. Without randomness from the operating system the process
    /// cannot keep any secret, so this panics rather than sign with a guessable key.
    pub fn random() -> Self {
        let bytes = crate::auth::secret::random_bytes::<32>()
            .expect("the operating system provides randomness for the cursor key");
        Self::from_secret(&bytes)
    }

    /// The key of routes served without an app (a bare router in a test): one random key per
    /// process.
    pub(crate) fn process() -> &'static CursorKey {
        static KEY: OnceLock<CursorKey> = OnceLock::new();
        KEY.get_or_init(CursorKey::random)
    }

    fn tag(&self, list: &str, payload: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.0);
        for part in [CONTEXT, list.as_bytes(), payload] {
            // Each part's length first, so that no two lists and payloads sign alike.
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        context.sign()
    }

    /// The cursor of `position` in the list `list` (the contract and its sort).
    pub fn encode(&self, list: &str, position: &[FieldValue]) -> String {
        let payload = Value::Array(position.iter().map(to_json).collect()).to_string();
        let tag = self.tag(list, payload.as_bytes());
        let mut cursor = URL_SAFE_NO_PAD.encode(payload.as_bytes());
        cursor.push('.');
        URL_SAFE_NO_PAD.encode_string(&tag.as_ref()[..TAG_BYTES], &mut cursor);
        cursor
    }

    /// The position `cursor` carries, when this key signed it for the list `list` and its
    /// values are of the kinds given (the sort keys', then the key's).
    pub fn decode(&self, list: &str, cursor: &str, kinds: &[FieldKind]) -> Option<Vec<FieldValue>> {
        let (payload, tag) = cursor.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let expected = self.tag(list, &payload);
        if tag.len() != TAG_BYTES
            || aws_lc_rs::constant_time::verify_slices_are_equal(
                &expected.as_ref()[..TAG_BYTES],
                &tag,
            )
            .is_err()
        {
            return None;
        }
        let Value::Array(values) = serde_json::from_slice(&payload).ok()? else {
            return None;
        };
        if values.len() != kinds.len() {
            return None;
        }
        values
            .iter()
            .zip(kinds)
            .map(|(value, kind)| from_json(value, *kind))
            .collect()
    }
}

fn to_json(value: &FieldValue) -> Value {
    match value {
        FieldValue::Null => Value::Null,
        FieldValue::Bool(b) => Value::Bool(*b),
        FieldValue::Int(i) => Value::from(*i),
        // Stored floats are finite: JSON bodies carry no NaN.
        FieldValue::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        FieldValue::Text(text) => Value::String(text.clone()),
        // Nanoseconds overflow JSON's safe integers: written as decimal text.
        FieldValue::Time(nanos) => Value::String(nanos.to_string()),
    }
}

fn from_json(value: &Value, kind: FieldKind) -> Option<FieldValue> {
    let value = match (kind, value) {
        (_, Value::Null) => FieldValue::Null,
        (FieldKind::Bool, Value::Bool(b)) => FieldValue::Bool(*b),
        (FieldKind::Int, Value::Number(n)) => FieldValue::Int(n.as_i64()?),
        (FieldKind::Float | FieldKind::Decimal, Value::Number(n)) => FieldValue::Float(n.as_f64()?),
        (FieldKind::DateTime, Value::String(text)) => FieldValue::Time(text.parse().ok()?),
        (
            FieldKind::Text | FieldKind::Uuid | FieldKind::Date | FieldKind::Enum(_),
            Value::String(text),
        ) => FieldValue::Text(text.clone()),
        _ => return None,
    };
    kind.holds(&value).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: &[FieldKind] = &[FieldKind::DateTime, FieldKind::Float, FieldKind::Uuid];

    fn position() -> Vec<FieldValue> {
        vec![
            FieldValue::Time(1_900_000_000_123_456_000),
            FieldValue::Null,
            FieldValue::Text("0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69".into()),
        ]
    }

    #[test]
    fn cursors_round_trip_and_refuse_every_change() {
        let key = CursorKey::from_secret(b"a test secret of thirty-two bytes!");
        let cursor = key.encode("Task:-due_at", &position());
        assert_eq!(key.decode("Task:-due_at", &cursor, KINDS), Some(position()));
        // Another list, another key, another sort.
        assert_eq!(key.decode("Task:due_at", &cursor, KINDS), None);
        assert_eq!(key.decode("Project:-due_at", &cursor, KINDS), None);
        let other = CursorKey::from_secret(b"another secret of thirty-two bytes");
        assert_eq!(other.decode("Task:-due_at", &cursor, KINDS), None);
        // Any character changed, dropped or added.
        for i in 0..cursor.len() {
            let mut bytes = cursor.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let edited = String::from_utf8(bytes).expect("ASCII");
            assert_eq!(key.decode("Task:-due_at", &edited, KINDS), None, "{edited}");
        }
        assert_eq!(key.decode("Task:-due_at", &cursor[1..], KINDS), None);
        assert_eq!(
            key.decode("Task:-due_at", &format!("{cursor}A"), KINDS),
            None
        );
        assert_eq!(key.decode("Task:-due_at", "", KINDS), None);
        // A genuine cursor whose values are not of the kinds asked for.
        assert_eq!(
            key.decode(
                "Task:-due_at",
                &cursor,
                &[FieldKind::Int, FieldKind::Float, FieldKind::Uuid]
            ),
            None
        );
    }

    #[test]
    fn random_keys_differ() {
        let (a, b) = (CursorKey::random(), CursorKey::random());
        let cursor = a.encode("Task:", &[FieldValue::Int(1)]);
        assert!(a.decode("Task:", &cursor, &[FieldKind::Int]).is_some());
        assert!(b.decode("Task:", &cursor, &[FieldKind::Int]).is_none());
    }
}
