//! Naming rules shared by front ends and emitters: identifier shapes, case conversion and the
//! keywords of the languages we generate.

/// Rust keywords (strict, reserved and 2018+ edition ones).
pub const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Rust keywords that cannot be written as raw identifiers (`r#self` is not allowed).
pub const RUST_UNRAWABLE: &[&str] = &["crate", "self", "Self", "super"];

pub fn is_rust_keyword(word: &str) -> bool {
    RUST_KEYWORDS.contains(&word)
}

/// `snake_case`: a lowercase ASCII letter, then lowercase letters, digits and single underscores.
pub fn is_snake_case(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

/// `PascalCase`: an uppercase ASCII letter, then ASCII letters and digits.
pub fn is_pascal_case(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('A'..='Z')) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// `title_case` -> `TitleCase`.
pub fn to_pascal_case(name: &str) -> String {
    name.split(['_', '-', ' '])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// `TaskList` -> `task_list`; `HTTPServer` -> `http_server`.
pub fn to_snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '-' || c == ' ' {
            out.push('_');
            continue;
        }
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let boundary = prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(|p| p.is_ascii_uppercase())
                    && next.is_some_and(|n| n.is_ascii_lowercase()));
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `TaskList` -> `task-list`.
pub fn to_kebab_case(name: &str) -> String {
    to_snake_case(name).replace('_', "-")
}

/// `TaskList` -> `TASK_LIST`, the prefix of proto enum values.
pub fn to_screaming_snake_case(name: &str) -> String {
    to_snake_case(name).to_ascii_uppercase()
}

/// The proto name of `value` of an enum whose values start with `prefix` (the enum's name in
/// SCREAMING_SNAKE_CASE): `STATUS_ACTIVE`. proto3 enum values share their package's namespace,
/// hence the prefix.
pub fn proto_enum_value_name(prefix: &str, value: &str) -> String {
    format!("{prefix}_{}", value.to_ascii_uppercase())
}

/// English plural of a lowercase word, good enough for resource paths (`category` ->
/// `categories`, `box` -> `boxes`); a contract sets `path:` when it is not.
pub fn pluralize(word: &str) -> String {
    let ends = |s: &str| word.ends_with(s);
    if ends("s") || ends("x") || ends("z") || ends("ch") || ends("sh") {
        format!("{word}es")
    } else if ends("y")
        && !word
            .chars()
            .rev()
            .nth(1)
            .is_some_and(|c| "aeiou".contains(c))
    {
        format!("{}ies", &word[..word.len() - 1])
    } else {
        format!("{word}s")
    }
}

/// The default collection path of a contract: `TaskList` -> `/task-lists`.
pub fn default_path(contract: &str) -> String {
    let kebab = to_kebab_case(contract);
    match kebab.rsplit_once('-') {
        Some((head, last)) => format!("/{head}-{}", pluralize(last)),
        None => format!("/{}", pluralize(&kebab)),
    }
}

/// The default table name of a contract: `TaskList` -> `task_lists`.
pub fn default_table(contract: &str) -> String {
    default_path(contract)[1..].replace('-', "_")
}

/// The JSON name protoc derives for a field: underscores dropped, the letter after each one
/// upper-cased (`due_at` -> `dueAt`, and `a_1` and `a1` both -> `a1`).
pub fn proto_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_conversions() {
        assert_eq!(to_pascal_case("due_at"), "DueAt");
        assert_eq!(to_snake_case("TaskList"), "task_list");
        assert_eq!(to_snake_case("HTTPServer"), "http_server");
        assert_eq!(to_snake_case("Oauth2Client"), "oauth2_client");
        assert_eq!(to_screaming_snake_case("TaskPriority"), "TASK_PRIORITY");
        assert_eq!(default_path("Category"), "/categories");
        assert_eq!(default_path("TaskList"), "/task-lists");
        assert_eq!(default_path("Day"), "/days");
        assert_eq!(default_table("Address"), "addresses");
    }

    #[test]
    fn identifier_shapes() {
        assert!(is_snake_case("due_at"));
        assert!(is_snake_case("a1"));
        assert!(!is_snake_case("Due"));
        assert!(!is_snake_case("due__at"));
        assert!(!is_snake_case("1a"));
        assert!(is_pascal_case("Task2"));
        assert!(!is_pascal_case("task"));
        assert!(!is_pascal_case("Task_List"));
    }
}
