//! Resources: fixed URIs and RFC 6570 level-1 URI templates (`{var}` matches
//! one path segment). A template's variables reach the handler as its
//! arguments, so `Args<T>` works for them as it does for tools.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rmcp::ErrorData;
use rmcp::model::{JsonObject, ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::Value;

use crate::handler::{Call, ErasedHandler, Handler, erase};

/// Binary resource contents (sent base64-encoded as a blob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

/// What a resource handler returned, before the URI and MIME type are attached.
#[derive(Debug, Clone)]
pub enum ResourceBody {
    /// Text contents.
    Text(String),
    /// Binary contents.
    Blob(Vec<u8>),
    /// Fully built contents, used as they are.
    Contents(Vec<ResourceContents>),
    /// The resource could not be read; the message goes to the client.
    Error(String),
}

/// What a resource handler may return.
pub trait IntoResourceBody {
    /// Converts into a resource body.
    fn into_resource_body(self) -> ResourceBody;
}

impl IntoResourceBody for ResourceBody {
    fn into_resource_body(self) -> ResourceBody {
        self
    }
}

impl IntoResourceBody for String {
    fn into_resource_body(self) -> ResourceBody {
        ResourceBody::Text(self)
    }
}

impl IntoResourceBody for &'static str {
    fn into_resource_body(self) -> ResourceBody {
        ResourceBody::Text(self.to_owned())
    }
}

impl IntoResourceBody for Blob {
    fn into_resource_body(self) -> ResourceBody {
        ResourceBody::Blob(self.0)
    }
}

impl IntoResourceBody for Value {
    fn into_resource_body(self) -> ResourceBody {
        ResourceBody::Text(self.to_string())
    }
}

impl IntoResourceBody for Vec<ResourceContents> {
    fn into_resource_body(self) -> ResourceBody {
        ResourceBody::Contents(self)
    }
}

impl<T: IntoResourceBody, E: std::fmt::Display> IntoResourceBody for Result<T, E> {
    fn into_resource_body(self) -> ResourceBody {
        match self {
            Ok(v) => v.into_resource_body(),
            Err(e) => ResourceBody::Error(e.to_string()),
        }
    }
}

/// A parsed URI template: literal text and `{name}` variables, alternating.
#[derive(Debug, Clone)]
struct UriTemplate {
    parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone)]
enum TemplatePart {
    Literal(String),
    Variable(String),
}

impl UriTemplate {
    fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(TemplatePart::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in `{template}`"))?
                + open;
            let name = &rest[open + 1..close];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "unsupported variable `{{{name}}}` in `{template}` (only `{{name}}` is supported)"
                ));
            }
            if matches!(parts.last(), Some(TemplatePart::Variable(_))) {
                return Err(format!(
                    "two adjacent variables in `{template}` cannot be told apart"
                ));
            }
            parts.push(TemplatePart::Variable(name.to_owned()));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// The variables if `uri` matches; a variable matches one or more characters other than `/`.
    fn matches(&self, uri: &str) -> Option<JsonObject> {
        let mut vars = JsonObject::new();
        self.walk(uri, |name, value| {
            vars.insert(name.to_owned(), Value::from(value));
        })?;
        Some(vars)
    }

    /// Whether `uri` matches, without collecting the variables (a policy
    /// decision on every `resources/read` needs no more).
    fn is_match(&self, uri: &str) -> bool {
        self.walk(uri, |_, _| {}).is_some()
    }

    /// Matches `uri` part by part, handing each variable's value to `found`.
    fn walk(&self, uri: &str, mut found: impl FnMut(&str, &str)) -> Option<()> {
        let mut rest = uri;
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                TemplatePart::Literal(lit) => rest = rest.strip_prefix(lit.as_str())?,
                TemplatePart::Variable(name) => {
                    let end = match self.parts.get(i + 1) {
                        Some(TemplatePart::Literal(next)) => rest.find(next.as_str())?,
                        _ => rest.len(),
                    };
                    let value = &rest[..end];
                    if value.is_empty() || value.contains('/') {
                        return None;
                    }
                    found(name, value);
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(())
    }
}

struct StaticEntry {
    definition: Resource,
    handler: ErasedHandler<ResourceBody>,
}

struct TemplateEntry {
    definition: ResourceTemplate,
    template: UriTemplate,
    handler: ErasedHandler<ResourceBody>,
}

/// The registered resources and templates.
#[derive(Clone, Default)]
pub(crate) struct ResourceRegistry {
    statics: Vec<std::sync::Arc<StaticEntry>>,
    by_uri: HashMap<String, usize>,
    templates: Vec<std::sync::Arc<TemplateEntry>>,
}

impl ResourceRegistry {
    pub(crate) fn add<H, M>(&mut self, definition: Resource, handler: H)
    where
        H: Handler<M>,
        H::Output: IntoResourceBody,
        M: 'static,
    {
        let entry = StaticEntry {
            definition,
            handler: erase(handler, IntoResourceBody::into_resource_body),
        };
        self.by_uri
            .insert(entry.definition.uri.clone(), self.statics.len());
        self.statics.push(std::sync::Arc::new(entry));
    }

    pub(crate) fn add_template<H, M>(
        &mut self,
        definition: ResourceTemplate,
        handler: H,
    ) -> Result<(), String>
    where
        H: Handler<M>,
        H::Output: IntoResourceBody,
        M: 'static,
    {
        let template = UriTemplate::parse(&definition.uri_template)?;
        self.templates.push(std::sync::Arc::new(TemplateEntry {
            definition,
            template,
            handler: erase(handler, IntoResourceBody::into_resource_body),
        }));
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.statics.is_empty() && self.templates.is_empty()
    }

    pub(crate) fn list(&self) -> Vec<Resource> {
        self.statics.iter().map(|e| e.definition.clone()).collect()
    }

    pub(crate) fn list_templates(&self) -> Vec<ResourceTemplate> {
        self.templates
            .iter()
            .map(|e| e.definition.clone())
            .collect()
    }

    /// The resources `allowed` keeps (lists that follow policy).
    pub(crate) fn list_where(&self, mut allowed: impl FnMut(&Resource) -> bool) -> Vec<Resource> {
        self.statics
            .iter()
            .filter(|e| allowed(&e.definition))
            .map(|e| e.definition.clone())
            .collect()
    }

    /// The templates `allowed` keeps.
    pub(crate) fn list_templates_where(
        &self,
        mut allowed: impl FnMut(&ResourceTemplate) -> bool,
    ) -> Vec<ResourceTemplate> {
        self.templates
            .iter()
            .filter(|e| allowed(&e.definition))
            .map(|e| e.definition.clone())
            .collect()
    }

    /// Reads `uri`: a fixed resource first, then the first matching template.
    pub(crate) async fn read(
        &self,
        uri: &str,
        make_call: impl FnOnce(JsonObject) -> Call,
    ) -> Result<ReadResourceResult, ErrorData> {
        let (handler, mime, arguments) = if let Some(&i) = self.by_uri.get(uri) {
            let e = &self.statics[i];
            (
                e.handler.clone(),
                e.definition.mime_type.clone(),
                JsonObject::new(),
            )
        } else if let Some((e, vars)) = self
            .templates
            .iter()
            .find_map(|e| e.template.matches(uri).map(|v| (e, v)))
        {
            (e.handler.clone(), e.definition.mime_type.clone(), vars)
        } else {
            return Err(ErrorData::resource_not_found(
                format!("resource not found: {uri}"),
                None,
            ));
        };
        let body = handler(make_call(arguments))
            .await
            .map_err(|e| ErrorData::invalid_params(e.0, None))?;
        let with_mime = |c: ResourceContents| match &mime {
            Some(m) => c.with_mime_type(m.clone()),
            None => c,
        };
        let contents = match body {
            ResourceBody::Text(text) => vec![with_mime(ResourceContents::text(text, uri))],
            ResourceBody::Blob(bytes) => vec![with_mime(ResourceContents::blob(
                STANDARD.encode(bytes),
                uri,
            ))],
            ResourceBody::Contents(contents) => contents,
            ResourceBody::Error(message) => return Err(ErrorData::internal_error(message, None)),
        };
        Ok(ReadResourceResult::new(contents))
    }
}

/// The template `read` would use for a URI, for resource-template policies
/// at the HTTP edge: none for a fixed resource (it wins over templates).
impl mcpgate_auth::http::ResourceTemplates for ResourceRegistry {
    fn template_for(&self, uri: &str) -> Option<&str> {
        if self.by_uri.contains_key(uri) {
            return None;
        }
        self.templates
            .iter()
            .find(|e| e.template.is_match(uri))
            .map(|e| e.definition.uri_template.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_one_segment_per_variable() {
        let t = UriTemplate::parse("test://template/{id}/data").unwrap();
        assert_eq!(t.matches("test://template/123/data").unwrap()["id"], "123");
        assert!(t.matches("test://template/1/2/data").is_none());
        assert!(t.matches("test://template//data").is_none());
        assert!(t.matches("test://template/123/other").is_none());
        let t = UriTemplate::parse("users://{name}").unwrap();
        assert_eq!(t.matches("users://ada").unwrap()["name"], "ada");
        assert!(UriTemplate::parse("x://{a}{b}").is_err());
        assert!(UriTemplate::parse("x://{a").is_err());
        assert!(UriTemplate::parse("x://{+a}").is_err());
    }
}
