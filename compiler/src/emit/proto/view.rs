//! The view model of a proto file: what the template reads, as minijinja objects read
//! attribute by attribute (not copied into the engine's values).

use super::*;
//
// Each view is a minijinja object that the template reads attribute by attribute, its nested
// views shared through `Arc`s. Converting the views into the engine's own values (through
// serde) first copied every view into a tree of maps that was dropped right after rendering:
// about a sixth of the proto emitter's work.

#[derive(Debug)]
pub(crate) struct FileView {
    pub(crate) package: String,
    pub(crate) imports: Vec<String>,
    /// The resource message, its derived messages and the user messages, in that order.
    pub(crate) messages: Vec<Arc<MessageView>>,
    pub(crate) enums: Vec<Arc<EnumView>>,
    pub(crate) service: Option<Arc<ServiceView>>,
}

#[derive(Debug)]
pub(crate) struct MessageView {
    pub(crate) name: String,
    pub(crate) comments: Vec<String>,
    pub(crate) deprecated: bool,
    pub(crate) fields: Vec<Arc<FieldView>>,
    pub(crate) reserved: Arc<ReservedView>,
}

impl MessageView {
    pub(crate) fn new(
        name: String,
        comments: Vec<String>,
        fields: Vec<FieldView>,
        reserved: ReservedView,
    ) -> MessageView {
        MessageView {
            name,
            comments,
            deprecated: false,
            fields: shared(fields),
            reserved: Arc::new(reserved),
        }
    }
}

#[derive(Debug)]
pub(crate) struct FieldView {
    pub(crate) comments: Vec<String>,
    /// `optional`, `repeated` or empty.
    pub(crate) label: &'static str,
    pub(crate) ty: String,
    pub(crate) name: String,
    pub(crate) number: u32,
    pub(crate) deprecated: bool,
}

/// Numbers and names of removed fields or values, both ordered by number.
#[derive(Debug, Default)]
pub(crate) struct ReservedView {
    pub(crate) numbers: Vec<u32>,
    pub(crate) names: Vec<String>,
}

impl ReservedView {
    pub(crate) fn new<'a>(
        entries: impl IntoIterator<Item = (&'a String, &'a u32)>,
        rename: impl Fn(&str) -> String,
    ) -> Self {
        let mut entries: Vec<(u32, &String)> =
            entries.into_iter().map(|(name, n)| (*n, name)).collect();
        entries.sort();
        Self {
            numbers: entries.iter().map(|(n, _)| *n).collect(),
            names: entries.iter().map(|(_, name)| rename(name)).collect(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct EnumView {
    pub(crate) name: String,
    pub(crate) comments: Vec<String>,
    pub(crate) values: Vec<Arc<EnumValueView>>,
    pub(crate) reserved: Arc<ReservedView>,
}

#[derive(Debug)]
pub(crate) struct EnumValueView {
    pub(crate) name: String,
    pub(crate) number: u32,
    pub(crate) comments: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct ServiceView {
    pub(crate) name: String,
    pub(crate) comments: Vec<String>,
    pub(crate) rpcs: Vec<Arc<RpcView>>,
    /// Request messages and response wrappers, in rpc order.
    pub(crate) messages: Vec<Arc<MessageView>>,
}

#[derive(Debug)]
pub(crate) struct RpcView {
    pub(crate) name: String,
    pub(crate) comments: Vec<String>,
    pub(crate) request: String,
    pub(crate) response: String,
    pub(crate) deprecated: bool,
}

/// A view as the template sees it: its attributes by name. The names are those the template's
/// opening comment lists.
pub(crate) trait View: std::fmt::Debug + Send + Sync + 'static {
    const ATTRIBUTES: &'static [&'static str];

    fn attribute(&self, name: &str) -> Option<Value>;
}

macro_rules! template_objects {
    ($($view:ty),* $(,)?) => {$(
        impl Object for $view {
            fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
                self.attribute(key.as_str()?)
            }

            fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
                self.attribute(key)
            }

            fn enumerate(self: &Arc<Self>) -> Enumerator {
                Enumerator::Str(Self::ATTRIBUTES)
            }
        }
    )*};
}

template_objects!(
    FileView,
    MessageView,
    FieldView,
    ReservedView,
    EnumView,
    EnumValueView,
    ServiceView,
    RpcView,
);

impl View for FileView {
    const ATTRIBUTES: &'static [&'static str] =
        &["package", "imports", "messages", "enums", "service"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "package" => Value::from(self.package.as_str()),
            "imports" => texts(&self.imports),
            "messages" => objects(&self.messages),
            "enums" => objects(&self.enums),
            "service" => self
                .service
                .as_ref()
                .map_or_else(|| Value::from(()), |s| Value::from_dyn_object(s.clone())),
            _ => return None,
        })
    }
}

impl View for MessageView {
    const ATTRIBUTES: &'static [&'static str] =
        &["name", "comments", "deprecated", "fields", "reserved"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "name" => Value::from(self.name.as_str()),
            "comments" => texts(&self.comments),
            "deprecated" => Value::from(self.deprecated),
            "fields" => objects(&self.fields),
            "reserved" => Value::from_dyn_object(self.reserved.clone()),
            _ => return None,
        })
    }
}

impl View for FieldView {
    const ATTRIBUTES: &'static [&'static str] =
        &["comments", "label", "type", "name", "number", "deprecated"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "comments" => texts(&self.comments),
            "label" => Value::from(self.label),
            "type" => Value::from(self.ty.as_str()),
            "name" => Value::from(self.name.as_str()),
            "number" => Value::from(self.number),
            "deprecated" => Value::from(self.deprecated),
            _ => return None,
        })
    }
}

impl View for ReservedView {
    const ATTRIBUTES: &'static [&'static str] = &["numbers", "names"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "numbers" => self.numbers.iter().copied().map(Value::from).collect(),
            "names" => texts(&self.names),
            _ => return None,
        })
    }
}

impl View for EnumView {
    const ATTRIBUTES: &'static [&'static str] = &["name", "comments", "values", "reserved"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "name" => Value::from(self.name.as_str()),
            "comments" => texts(&self.comments),
            "values" => objects(&self.values),
            "reserved" => Value::from_dyn_object(self.reserved.clone()),
            _ => return None,
        })
    }
}

impl View for EnumValueView {
    const ATTRIBUTES: &'static [&'static str] = &["name", "number", "comments"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "name" => Value::from(self.name.as_str()),
            "number" => Value::from(self.number),
            "comments" => texts(&self.comments),
            _ => return None,
        })
    }
}

impl View for ServiceView {
    const ATTRIBUTES: &'static [&'static str] = &["name", "comments", "rpcs", "messages"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "name" => Value::from(self.name.as_str()),
            "comments" => texts(&self.comments),
            "rpcs" => objects(&self.rpcs),
            "messages" => objects(&self.messages),
            _ => return None,
        })
    }
}

impl View for RpcView {
    const ATTRIBUTES: &'static [&'static str] =
        &["name", "comments", "request", "response", "deprecated"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "name" => Value::from(self.name.as_str()),
            "comments" => texts(&self.comments),
            "request" => Value::from(self.request.as_str()),
            "response" => Value::from(self.response.as_str()),
            "deprecated" => Value::from(self.deprecated),
            _ => return None,
        })
    }
}

/// A list of strings as a template sequence.
pub(crate) fn texts(items: &[String]) -> Value {
    items
        .iter()
        .map(|item| Value::from(item.as_str()))
        .collect()
}

/// A list of views as a template sequence of the views themselves.
pub(crate) fn objects<T: Object + 'static>(items: &[Arc<T>]) -> Value {
    items
        .iter()
        .map(|item| Value::from_dyn_object(item.clone()))
        .collect()
}

/// Views ready to be shared with the template.
pub(crate) fn shared<T>(items: Vec<T>) -> Vec<Arc<T>> {
    items.into_iter().map(Arc::new).collect()
}
