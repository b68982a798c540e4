//! Lowering the enums and messages a contract declares.

use super::*;

impl Lowerer<'_> {
    pub(super) fn enums(&mut self, node: &Node, enums: &mut BTreeMap<String, EnumDef>) {
        let Some(entries) = self.map(node, "`enums`") else {
            return;
        };
        for (key, value) in entries {
            let Some(name) = self.key_name(key) else {
                continue;
            };
            self.check_type_name(&name, key.span, "enum");
            let (values, description) = match value.as_map() {
                Some(_) => {
                    let Some(object) = self.object(value, &format!("enum `{name}`"), ENUM_KEYS)
                    else {
                        continue;
                    };
                    let description = object.get("description").and_then(|n| self.string(n));
                    let Some(values) = object.get("values") else {
                        self.error(key.span, format!("enum `{name}` has no `values`"))
                            .with_help("e.g. `Priority: { values: [low, normal, high] }`")
                            .emit(self.diags);
                        continue;
                    };
                    (values, description)
                }
                None => (value, None),
            };
            if let Some(def) = self.enum_def(&name, key.span, values, description) {
                enums.insert(name, def);
            }
        }
    }

    pub(super) fn enum_def(
        &mut self,
        name: &str,
        span: Span,
        values: &Node,
        description: Option<String>,
    ) -> Option<EnumDef> {
        let Some(items) = values.as_seq() else {
            self.expected(values, "a list of enum values");
            return None;
        };
        if items.is_empty() {
            self.error(values.span, format!("enum `{name}` has no values"))
                .emit(self.diags);
            return None;
        }
        let mut out: Vec<EnumValue> = Vec::new();
        for item in items {
            let (value, description) = if item.as_map().is_some() {
                let Some(object) = self.object(item, "an enum value", ENUM_VALUE_KEYS) else {
                    continue;
                };
                let Some(n) = object.get("name") else {
                    self.error(item.span, "an enum value map needs `name`")
                        .emit(self.diags);
                    continue;
                };
                (
                    self.string(n),
                    object.get("description").and_then(|d| self.string(d)),
                )
            } else {
                (self.string(item), None)
            };
            let Some(value) = value else { continue };
            if !is_snake_case(&value) {
                self.error(item.span, format!("enum value `{value}` is not snake_case"))
                    .with_help(format!(
                        "write `{}`; the wire value is exactly what you write",
                        to_snake_case(&value)
                    ))
                    .emit(self.diags);
                continue;
            }
            if let Some(first) = out.iter().find(|v| v.name == value) {
                self.error(item.span, format!("enum value `{value}` is listed twice"))
                    .with_secondary(first.span, "first listed here")
                    .emit(self.diags);
                continue;
            }
            if value == "unspecified" {
                self.error(item.span, "`unspecified` is reserved")
                    .with_help("proto enums use `<ENUM>_UNSPECIFIED = 0` for an unset value; choose another name")
                    .emit(self.diags);
                continue;
            }
            out.push(EnumValue {
                name: value,
                span: item.span,
                description,
            });
        }
        Some(EnumDef {
            name: name.to_owned(),
            span,
            description,
            values: out,
        })
    }

    pub(super) fn messages(&mut self, node: &Node, contract: &mut Contract) {
        let Some(entries) = self.map(node, "`messages`") else {
            return;
        };
        for (key, value) in entries {
            let Some(name) = self.key_name(key) else {
                continue;
            };
            self.check_type_name(&name, key.span, "message");
            let Some(object) = self.object(value, &format!("message `{name}`"), MESSAGE_KEYS)
            else {
                continue;
            };
            let fields = match object.get("fields") {
                Some(fields) => {
                    self.fields(fields, &name, FieldPlace::Message, &mut contract.enums)
                }
                None => Vec::new(),
            };
            let description = object.get("description").and_then(|n| self.string(n));
            contract.messages.insert(
                name.clone(),
                Message {
                    name,
                    span: key.span,
                    description,
                    fields,
                },
            );
        }
    }
}
