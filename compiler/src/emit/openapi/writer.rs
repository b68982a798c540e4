//! Writes one document as JSON and as YAML at the same time, entry by entry.
//!
//! A large project's document runs to tens of megabytes of text, and a typed model of all of it
//! would take several times that in memory. So the document is never whole: its big maps
//! (`paths`, `components.schemas`) are built one entry at a time, each entry written to both
//! texts and dropped before the next is built. The texts are byte for byte what serializing a
//! whole model would give: pretty JSON with two-space indentation, as `serde_json` writes it,
//! and the block YAML of `yaml`.
//!
//! Several documents (one per API version) are written side by side, and an entry they share is
//! rendered once ([`Rendered`]) and its text copied into each.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

use super::yaml;

/// The JSON and YAML texts of one document being written.
pub(super) struct Writer {
    json: Vec<u8>,
    yaml: String,
    /// Per open map, outermost first: whether it has an entry yet.
    open: Vec<bool>,
}

impl Writer {
    /// A writer whose texts start with `json` and `yaml` (e.g. a header comment), with the
    /// document's top-level map open.
    pub(super) fn new(mut json: Vec<u8>, yaml: String) -> Writer {
        json.push(b'{');
        Writer {
            json,
            yaml,
            open: vec![false],
        }
    }

    /// `key: value` in the innermost open map.
    pub(super) fn entry<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        let depth = self.begin_entry(key);
        write_value(&mut self.json, &mut self.yaml, depth, value);
    }

    /// The depth of the next entry: where a value must be rendered to be written next.
    pub(super) fn depth(&self) -> usize {
        self.open.len()
    }

    /// `key: value` in the innermost open map, with the value's text rendered already.
    pub(super) fn rendered_entry(&mut self, key: &str, rendered: &Rendered) {
        let depth = self.begin_entry(key);
        debug_assert_eq!(
            depth, rendered.depth,
            "the value was rendered for another depth"
        );
        self.json.extend_from_slice(&rendered.json);
        self.yaml.push_str(&rendered.yaml);
    }

    /// Opens a map as the value of `key`; its entries follow until `close`.
    pub(super) fn open(&mut self, key: &str) {
        self.begin_entry(key);
        self.json.push(b'{');
        self.open.push(false);
    }

    /// Closes the innermost open map.
    pub(super) fn close(&mut self) {
        let has_entries = self.open.pop().expect("a map is open");
        if has_entries {
            self.json.push(b'\n');
            push_json_indent(&mut self.json, self.open.len());
        } else {
            self.yaml.push_str(" {}\n");
        }
        self.json.push(b'}');
    }

    /// Reserves room for the rest of the document, extrapolated from what is written: `done`
    /// of the `total` path items, with as much again as half of the paths for the component
    /// schemas after them and a margin. Growing by doubling instead, the last few copies each
    /// hold the old text and the new one at once, which is most of a large document's peak
    /// memory; room reserved but never written costs address space, not memory.
    pub(super) fn reserve_rest(&mut self, done: usize, total: usize) {
        if done == 0 || done >= total {
            return;
        }
        let expected = |written: usize| written / done * total * 2;
        self.json
            .reserve(expected(self.json.len()).saturating_sub(self.json.len()));
        self.yaml
            .reserve(expected(self.yaml.len()).saturating_sub(self.yaml.len()));
    }

    /// Closes the document and returns its JSON and YAML texts, each ending in a newline.
    pub(super) fn finish(mut self) -> (String, String) {
        while !self.open.is_empty() {
            self.close();
        }
        self.json.push(b'\n');
        let json = String::from_utf8(self.json).expect("serde_json writes UTF-8");
        (json, self.yaml)
    }

    /// Writes what precedes a value in both texts: the separator, the indentation and the key.
    /// Returns the depth of the entry (1 for the document's own keys).
    fn begin_entry(&mut self, key: &str) -> usize {
        let depth = self.open.len();
        let has_entries = self.open.last_mut().expect("a map is open");
        self.json
            .extend_from_slice(if *has_entries { b",\n" } else { b"\n" });
        // A nested map's first entry goes on the line after its `key:`.
        if !*has_entries && depth > 1 {
            self.yaml.push('\n');
        }
        *has_entries = true;
        push_json_indent(&mut self.json, depth);
        serde_json::to_writer(&mut self.json, key).expect("a string serializes");
        self.json.extend_from_slice(b": ");
        yaml::write_key(&mut self.yaml, yaml_indent(depth), key);
        depth
    }
}

/// A value's JSON and YAML texts as an entry at one depth, for writing into several documents
/// at the same place. Reused from entry to entry, so its buffers are allocated once.
#[derive(Default)]
pub(super) struct Rendered {
    depth: usize,
    json: Vec<u8>,
    yaml: String,
}

impl Rendered {
    /// Renders `value` as the value of an entry at `depth`, replacing what was rendered before.
    pub(super) fn render<T: Serialize + ?Sized>(&mut self, depth: usize, value: &T) {
        self.json.clear();
        self.yaml.clear();
        self.depth = depth;
        write_value(&mut self.json, &mut self.yaml, depth, value);
    }
}

/// Appends `value`'s texts, as the value of an entry at `depth`, to `json` and `yaml`.
fn write_value<T: Serialize + ?Sized>(
    json: &mut Vec<u8>,
    yaml: &mut String,
    depth: usize,
    value: &T,
) {
    let mut serializer = serde_json::Serializer::with_formatter(json, Pretty::at(depth));
    value
        .serialize(&mut serializer)
        .expect("the OpenAPI model serializes: its map keys are strings, its numbers finite");
    yaml::write_value(yaml, yaml_indent(depth), value)
        .expect("the OpenAPI model serializes: its map keys are strings");
}

/// The indentation of YAML entries at `depth`: the document's own keys have none.
fn yaml_indent(depth: usize) -> usize {
    (depth - 1) * 2
}

fn push_json_indent(out: &mut Vec<u8>, depth: usize) {
    out.resize(out.len() + depth * 2, b' ');
}

/// `serde_json`'s pretty layout, starting `depth` levels in, so that a value written as one
/// entry of an outer map is indented as it would be inside the whole document.
struct Pretty {
    depth: usize,
    has_value: bool,
}

impl Pretty {
    fn at(depth: usize) -> Pretty {
        Pretty {
            depth,
            has_value: false,
        }
    }

    fn open<W: io::Write + ?Sized>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: io::Write + ?Sized>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            writer.write_all(b"\n")?;
            self.indent(writer)?;
        }
        writer.write_all(bracket)
    }

    fn item<W: io::Write + ?Sized>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        writer.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(writer)
    }

    fn indent<W: io::Write + ?Sized>(&self, writer: &mut W) -> io::Result<()> {
        for _ in 0..self.depth {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl Formatter for Pretty {
    fn begin_array<W: io::Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: io::Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: io::Write + ?Sized>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn end_array_value<W: io::Write + ?Sized>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: io::Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: io::Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: io::Write + ?Sized>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn begin_object_value<W: io::Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: io::Write + ?Sized>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Entries written one by one read exactly as the whole value serialized at once.
    #[test]
    fn entries_match_the_whole_document() {
        // Keys in sorted order, which is the order of `serde_json`'s map either way.
        let whole = json!({
            "a": 1,
            "empty": {},
            "last": {"k": {"deep": [["v"]]}},
            "nested": {"empty": {}, "list": [1, {"x": []}, {}], "s": "yes"}
        });
        let mut writer = Writer::new(Vec::new(), String::new());
        writer.entry("a", &whole["a"]);
        writer.open("empty");
        writer.close();
        writer.open("last");
        writer.open("k");
        writer.entry("deep", &whole["last"]["k"]["deep"]);
        writer.close();
        writer.close();
        writer.open("nested");
        for key in ["empty", "list", "s"] {
            writer.entry(key, &whole["nested"][key]);
        }
        let (json, yaml) = writer.finish();

        let expected_json =
            serde_json::to_string_pretty(&whole).expect("a JSON value serializes") + "\n";
        assert_eq!(json, expected_json);
        assert_eq!(
            yaml,
            yaml::to_string(&whole).expect("a JSON value has YAML text")
        );
    }
}
