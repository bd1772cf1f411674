//! Handlebars template rendering, HTML-escaped by default.
//!
//! [`TemplateRenderer`] is the one place the SDK turns a template and a JSON
//! value into text: the email handlers of [`crate::domain`] and the
//! notification channels use it.
//!
//! - `{{value}}` is HTML-escaped (`<`, `>`, `&`, `"`, `'`, `` ` ``, `=`);
//!   `{{{value}}}` opts out for trusted, pre-rendered fragments.
//! - Strict mode is on by default: a template that reads a field the data
//!   does not have fails with [`TemplateError::Render`] instead of silently
//!   rendering an empty string into a customer's email. Use
//!   [`TemplateRenderer::lenient`] to turn it off.
//!
//! ```
//! use waitlist_core::templates::TemplateRenderer;
//!
//! let mut renderer = TemplateRenderer::new();
//! renderer.register("welcome", "Hi {{name}}, you are #{{position}}").unwrap();
//! let text = renderer
//!     .render("welcome", &serde_json::json!({"name": "<Ann>", "position": 42}))
//!     .unwrap();
//! assert_eq!(text, "Hi &lt;Ann&gt;, you are #42");
//! ```

use handlebars::Handlebars;
use serde_json::Value;

/// Why a template could not be registered or rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template source does not parse.
    #[error("template `{name}` does not compile: {reason}")]
    Compile {
        /// Name the template was registered under (`<inline>` for
        /// [`TemplateRenderer::render_str`]).
        name: String,
        /// Parser message.
        reason: String,
    },
    /// No template is registered under this name.
    #[error("no template named `{0}`")]
    NotFound(String),
    /// Rendering failed (missing field in strict mode, helper error, ...).
    #[error("template `{name}` failed to render: {reason}")]
    Render {
        /// Template name (`<inline>` for [`TemplateRenderer::render_str`]).
        name: String,
        /// Renderer message.
        reason: String,
    },
}

const INLINE: &str = "<inline>";

/// A set of named Handlebars templates; HTML-escaped and strict by default.
///
/// Cheap to share behind an `Arc`: rendering takes `&self`.
#[derive(Debug, Clone)]
pub struct TemplateRenderer {
    registry: Handlebars<'static>,
}

impl Default for TemplateRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl TemplateRenderer {
    /// An empty renderer: HTML escaping on, strict mode on.
    pub fn new() -> Self {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::html_escape);
        Self { registry }
    }

    /// An empty renderer with strict mode off: missing fields render as "".
    pub fn lenient() -> Self {
        let mut renderer = Self::new();
        renderer.registry.set_strict_mode(false);
        renderer
    }

    /// Registers (or replaces) the template `name`.
    ///
    /// # Errors
    /// [`TemplateError::Compile`] when `source` is not valid Handlebars.
    pub fn register(&mut self, name: &str, source: &str) -> Result<(), TemplateError> {
        self.registry
            .register_template_string(name, source)
            .map_err(|e| TemplateError::Compile {
                name: name.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Whether a template is registered under `name`.
    pub fn has(&self, name: &str) -> bool {
        self.registry.has_template(name)
    }

    /// Renders the registered template `name` with `data`.
    ///
    /// # Errors
    /// [`TemplateError::NotFound`] for an unknown name,
    /// [`TemplateError::Render`] when rendering fails.
    pub fn render(&self, name: &str, data: &Value) -> Result<String, TemplateError> {
        if !self.registry.has_template(name) {
            return Err(TemplateError::NotFound(name.to_owned()));
        }
        self.registry
            .render(name, data)
            .map_err(|e| TemplateError::Render {
                name: name.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Renders a one-off template source with the default settings
    /// (HTML-escaped, strict).
    ///
    /// # Errors
    /// [`TemplateError::Compile`] or [`TemplateError::Render`].
    pub fn render_str(source: &str, data: &Value) -> Result<String, TemplateError> {
        Self::new().render_source(source, data)
    }

    /// Renders a one-off template source with this renderer's settings and
    /// registered partials.
    ///
    /// # Errors
    /// [`TemplateError::Compile`] or [`TemplateError::Render`].
    pub fn render_source(&self, source: &str, data: &Value) -> Result<String, TemplateError> {
        self.registry
            .render_template(source, data)
            .map_err(|e| match e.reason() {
                handlebars::RenderErrorReason::TemplateError(t) => TemplateError::Compile {
                    name: INLINE.to_owned(),
                    reason: t.to_string(),
                },
                _ => TemplateError::Render {
                    name: INLINE.to_owned(),
                    reason: e.to_string(),
                },
            })
    }
}

impl crate::runtime::Transient for TemplateError {
    fn is_transient(&self) -> bool {
        false
    }
}

impl From<TemplateError> for crate::Error {
    fn from(e: TemplateError) -> Self {
        crate::Error::rejected(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_html_escaped_by_default() {
        let out = TemplateRenderer::render_str("<p>{{x}}</p>", &json!({"x": "<script>&\""}))
            .expect("renders");
        assert_eq!(out, "<p>&lt;script&gt;&amp;&quot;</p>");
    }

    #[test]
    fn triple_stash_opts_out_of_escaping() {
        let out = TemplateRenderer::render_str("{{{x}}}", &json!({"x": "<b>"})).expect("renders");
        assert_eq!(out, "<b>");
    }

    #[test]
    fn registered_template_renders_by_name() {
        let mut r = TemplateRenderer::new();
        r.register("t", "Hi {{name}} #{{n}}").expect("compiles");
        assert!(r.has("t"));
        let out = r
            .render("t", &json!({"name": "Ann", "n": 3}))
            .expect("renders");
        assert_eq!(out, "Hi Ann #3");
    }

    #[test]
    fn unknown_template_is_not_found() {
        let r = TemplateRenderer::new();
        assert!(
            matches!(r.render("nope", &json!({})), Err(TemplateError::NotFound(n)) if n == "nope")
        );
    }

    #[test]
    fn invalid_source_is_a_compile_error() {
        let mut r = TemplateRenderer::new();
        assert!(matches!(
            r.register("bad", "{{#if x}}"),
            Err(TemplateError::Compile { .. })
        ));
        assert!(matches!(
            TemplateRenderer::render_str("{{#each}", &json!({})),
            Err(TemplateError::Compile { .. })
        ));
    }

    #[test]
    fn missing_field_fails_in_strict_mode_and_renders_empty_when_lenient() {
        let err = TemplateRenderer::render_str("{{missing}}", &json!({}));
        assert!(matches!(err, Err(TemplateError::Render { .. })));
        let out = TemplateRenderer::lenient()
            .render_source("[{{missing}}]", &json!({}))
            .expect("renders");
        assert_eq!(out, "[]");
    }

    #[test]
    fn conditionals_on_present_fields_work_in_strict_mode() {
        let out = TemplateRenderer::render_str(
            "{{#if code}}code {{code}}{{else}}none{{/if}}",
            &json!({"code": "ABC"}),
        )
        .expect("renders");
        assert_eq!(out, "code ABC");
    }
}
