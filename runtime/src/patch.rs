//! The value of one field in a PATCH body: absent (leave it), `null` (clear it) or a value.

/// One field of a partial update. `Option<Option<T>>` would say the same less clearly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// The field was not sent: keep the stored value.
    #[default]
    Absent,
    /// The field was sent as `null`: clear it (only nullable fields accept this).
    Null,
    /// The field was sent with a value: replace the stored value.
    Value(T),
}

impl<T> Patch<T> {
    /// Whether the field was left out of the body, so that the stored value stays.
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }

    /// The value of an optional or nullable field with a default: absent gives `default()`,
    /// `null` gives `None`.
    pub fn or_default_with(self, default: impl FnOnce() -> Option<T>) -> Option<T> {
        match self {
            Patch::Absent => default(),
            Patch::Null => None,
            Patch::Value(value) => Some(value),
        }
    }

    /// The value sent, to change in place (a secret to hash, say).
    pub fn value_mut(&mut self) -> Option<&mut T> {
        match self {
            Patch::Value(value) => Some(value),
            Patch::Absent | Patch::Null => None,
        }
    }

    /// The patch with its value changed by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(value) => Patch::Value(f(value)),
        }
    }

    /// Applies the patch to a required field (`Null` cannot reach one: decoding rejects it).
    pub fn apply(self, target: &mut T) {
        if let Patch::Value(value) = self {
            *target = value;
        }
    }

    /// Applies the patch to an optional or nullable field.
    pub fn apply_option(self, target: &mut Option<T>) {
        match self {
            Patch::Absent => {}
            Patch::Null => *target = None,
            Patch::Value(value) => *target = Some(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_absent_null_and_values() {
        let mut title = "a".to_owned();
        Patch::Absent.apply(&mut title);
        assert_eq!(title, "a");
        Patch::Value("b".to_owned()).apply(&mut title);
        assert_eq!(title, "b");

        let mut notes = Some(1);
        Patch::Absent.apply_option(&mut notes);
        assert_eq!(notes, Some(1));
        Patch::Null.apply_option(&mut notes);
        assert_eq!(notes, None);
        Patch::Value(2).apply_option(&mut notes);
        assert_eq!(notes, Some(2));
    }
}
