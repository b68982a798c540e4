//! Lowering field types and constraints: type names and `list<T>` / `map<T>`, inline enums,
//! and every constraint with the bounds it cannot contradict.

use super::*;

impl Lowerer<'_> {
    /// Parses `type:`. Inline enums (`type: enum` + `values`) are registered in `enums` under
    /// `<Owner><Field>`.
    pub(super) fn field_type(
        &mut self,
        node: &Node,
        values: Option<&Node>,
        owner: &str,
        field: &str,
        enums: &mut BTreeMap<String, EnumDef>,
    ) -> Option<Type> {
        let Some(Yaml::Str(text)) = node.scalar() else {
            self.expected(node, "a type name");
            return None;
        };
        if text == "enum" {
            let enum_name = format!("{owner}{}", to_pascal_case(field));
            let Some(values) = values else {
                self.error(node.span, "`type: enum` needs `values`")
                    .with_help("e.g. `{ type: enum, values: [low, normal, high] }`")
                    .emit(self.diags);
                return None;
            };
            let def = self.enum_def(&enum_name, node.span, values, None)?;
            if let Some(existing) = enums.get(&enum_name) {
                self.error(node.span, format!("the inline enum of `{field}` is named `{enum_name}`, which is already taken"))
                    .with_secondary(existing.span, "an enum of that name")
                    .with_help("rename one of them, or refer to the existing enum with `type: ".to_owned() + &enum_name + "`")
                    .emit(self.diags);
                return None;
            }
            enums.insert(enum_name.clone(), def);
            return Some(Type::Named(enum_name));
        }
        self.parse_type(node, text, 0)
    }

    pub(super) fn parse_type(&mut self, node: &Node, text: &str, offset: usize) -> Option<Type> {
        let here = |cx: &Self, len: usize| cx.sub_span(node, offset, len);
        let trimmed = text.trim();
        for (prefix, wrap) in [
            ("list<", Type::List as fn(Box<Type>) -> Type),
            ("map<", Type::Map),
        ] {
            if let Some(rest) = trimmed.strip_prefix(prefix) {
                let Some(inner) = rest.strip_suffix('>') else {
                    self.error(
                        here(self, text.len()),
                        format!("unclosed `{prefix}` in type `{text}`"),
                    )
                    .with_help(format!("write `{prefix}string>`"))
                    .emit(self.diags);
                    return None;
                };
                // `map<string, T>` spells out the key type, which is always a string.
                let inner = match inner.strip_prefix("string,") {
                    Some(value) if prefix == "map<" => value.trim_start(),
                    _ => inner,
                };
                let inner_offset = offset + text.find(inner).unwrap_or(prefix.len());
                let inner_ty = self.parse_type(node, inner, inner_offset)?;
                if matches!(inner_ty, Type::List(_) | Type::Map(_)) {
                    self.error(
                        here(self, text.len()),
                        format!("nested collection type `{text}`"),
                    )
                    .with_help("wrap the inner collection in a message and use `list<MessageName>`")
                    .emit(self.diags);
                    return None;
                }
                return Some(wrap(Box::new(inner_ty)));
            }
        }
        if let Some(scalar) = Scalar::from_name(trimmed) {
            return Some(Type::Scalar(scalar));
        }
        if is_pascal_case(trimmed) {
            return Some(Type::Named(trimmed.to_owned()));
        }
        let mut candidates: Vec<&str> = Scalar::ALL.iter().map(|s| s.name()).collect();
        candidates.extend(["enum", "list<", "map<"]);
        let help = match suggest(trimmed, candidates.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => "types: string, bool, int32, int64, float, double, decimal, uuid, date, datetime, bytes, json, secret, enum, list<T>, map<T>, or a PascalCase contract, message or enum name".to_owned(),
        };
        self.error(here(self, text.len()), format!("unknown type `{trimmed}`"))
            .with_label("not a type")
            .with_help(help)
            .emit(self.diags);
        None
    }

    pub(super) fn constraints(
        &mut self,
        object: &Object<'_>,
        ty: &Type,
        field: &str,
    ) -> Constraints {
        let mut c = Constraints::default();
        let scalar = ty.as_scalar();
        let is_collection = matches!(ty, Type::List(_) | Type::Map(_));
        let applies = |key: &str| -> bool {
            match key {
                "min_length" | "max_length" => {
                    matches!(
                        scalar,
                        Some(Scalar::String | Scalar::Bytes | Scalar::Secret)
                    )
                }
                "pattern" => matches!(scalar, Some(Scalar::String | Scalar::Secret)),
                "format" => scalar == Some(Scalar::String),
                "minimum" | "maximum" | "exclusive_minimum" | "exclusive_maximum"
                | "multiple_of" => scalar.is_some_and(Scalar::is_numeric),
                "min_items" | "max_items" => is_collection,
                "unique_items" => matches!(ty, Type::List(_)),
                _ => true,
            }
        };
        for &key in CONSTRAINT_KEYS {
            let Some(node) = object.get(key) else {
                continue;
            };
            if !applies(key) {
                let span = object.key_span(key).unwrap_or(node.span);
                let target = match key {
                    "min_length" | "max_length" => "strings and bytes",
                    "pattern" | "format" => "strings",
                    "min_items" | "max_items" => "lists and maps",
                    "unique_items" => "lists",
                    _ => "numbers",
                };
                let help = if is_collection
                    && !matches!(key, "min_items" | "max_items" | "unique_items")
                {
                    format!(
                        "to constrain each item, write it under `items:`, e.g. `items: {{ {key}: ... }}`"
                    )
                } else {
                    format!("`{key}` constrains {target}")
                };
                self.error(
                    span,
                    format!("`{key}` does not apply to `{field}` of type `{ty}`"),
                )
                .with_label(format!("`{key}` constrains {target}"))
                .with_help(help)
                .emit(self.diags);
                continue;
            }
            match key {
                "min_length" => c.min_length = self.unsigned(node),
                "max_length" => c.max_length = self.unsigned(node),
                "min_items" => c.min_items = self.unsigned(node),
                "max_items" => c.max_items = self.unsigned(node),
                "unique_items" => c.unique_items = self.bool(node).unwrap_or(false),
                "minimum" => c.minimum = self.number(node),
                "maximum" => c.maximum = self.number(node),
                "exclusive_minimum" => c.exclusive_minimum = self.number(node),
                "exclusive_maximum" => c.exclusive_maximum = self.number(node),
                "multiple_of" => c.multiple_of = self.number(node),
                "pattern" => c.pattern = self.pattern(node),
                "format" => {
                    let options: Vec<(&'static str, Format)> =
                        Format::ALL.iter().map(|f| (f.name(), *f)).collect();
                    c.format = self.one_of(node, &options, "`format`");
                }
                _ => {}
            }
        }
        self.check_bounds(object, &c, scalar);
        c
    }

    pub(super) fn pattern(&mut self, node: &Node) -> Option<String> {
        let pattern = self.string(node)?;
        match regex_syntax::Parser::new().parse(&pattern) {
            Ok(_) => Some(pattern),
            Err(error) => {
                let (detail, span) = match &error {
                    regex_syntax::Error::Parse(e) => {
                        let s = e.span();
                        (
                            e.kind().to_string(),
                            self.sub_span(
                                node,
                                s.start.offset,
                                (s.end.offset - s.start.offset).max(1),
                            ),
                        )
                    }
                    regex_syntax::Error::Translate(e) => {
                        let s = e.span();
                        (
                            e.kind().to_string(),
                            self.sub_span(
                                node,
                                s.start.offset,
                                (s.end.offset - s.start.offset).max(1),
                            ),
                        )
                    }
                    other => (other.to_string(), node.span),
                };
                self.error(span, format!("invalid regular expression: {detail}"))
                    .with_label(detail)
                    .with_help("patterns use Rust `regex` syntax (no look-around or backreferences); quote them with single quotes so YAML leaves `\\` alone")
                    .emit(self.diags);
                None
            }
        }
    }

    /// Reports constraint pairs that no value can satisfy.
    pub(super) fn check_bounds(
        &mut self,
        object: &Object<'_>,
        c: &Constraints,
        scalar: Option<Scalar>,
    ) {
        let span_of = |key: &str| object.key_span(key).unwrap_or(object.span);
        let pairs_u = [
            ("min_length", c.min_length, "max_length", c.max_length),
            ("min_items", c.min_items, "max_items", c.max_items),
        ];
        for (lo_key, lo, hi_key, hi) in pairs_u {
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if lo > hi {
                    self.error(
                        span_of(lo_key),
                        format!("`{lo_key}` ({lo}) is greater than `{hi_key}` ({hi})"),
                    )
                    .with_secondary(span_of(hi_key), "upper bound here")
                    .with_help("no value can satisfy both; swap or fix the bounds")
                    .emit(self.diags);
                }
            }
        }
        let lower = [
            ("minimum", c.minimum, false),
            ("exclusive_minimum", c.exclusive_minimum, true),
        ];
        let upper = [
            ("maximum", c.maximum, false),
            ("exclusive_maximum", c.exclusive_maximum, true),
        ];
        for (lo_key, lo, lo_ex) in lower {
            for (hi_key, hi, hi_ex) in upper {
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    let empty = if lo_ex || hi_ex { lo >= hi } else { lo > hi };
                    if empty {
                        self.error(
                            span_of(lo_key),
                            format!("`{lo_key}` ({lo}) and `{hi_key}` ({hi}) leave no valid value"),
                        )
                        .with_secondary(span_of(hi_key), "upper bound here")
                        .with_help("the lower bound must be below the upper bound")
                        .emit(self.diags);
                    }
                }
            }
        }
        if let Some(m) = c.multiple_of {
            if m <= 0.0 {
                self.error(
                    span_of("multiple_of"),
                    "`multiple_of` must be greater than zero",
                )
                .emit(self.diags);
            }
        }
        if scalar.is_some_and(Scalar::is_integer) {
            for key in [
                "minimum",
                "maximum",
                "exclusive_minimum",
                "exclusive_maximum",
                "multiple_of",
            ] {
                if let Some(node) = object.get(key) {
                    if matches!(node.scalar(), Some(Yaml::Float(x)) if x.fract() != 0.0) {
                        self.error(
                            node.span,
                            format!("`{key}` of an integer field must be an integer"),
                        )
                        .emit(self.diags);
                    }
                }
            }
        }
        if scalar == Some(Scalar::Int32) {
            let range = f64::from(i32::MIN)..=f64::from(i32::MAX);
            for (key, value) in [
                ("minimum", c.minimum),
                ("maximum", c.maximum),
                ("exclusive_minimum", c.exclusive_minimum),
                ("exclusive_maximum", c.exclusive_maximum),
            ] {
                if value.is_some_and(|v| !range.contains(&v)) {
                    self.error(
                        span_of(key),
                        format!("`{key}` is outside the range of `int32`"),
                    )
                    .with_help("use `int64`, or a bound between -2147483648 and 2147483647")
                    .emit(self.diags);
                }
            }
        }
    }
}
