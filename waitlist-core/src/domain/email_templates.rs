//! The default subject and HTML templates of the five email kinds.

use crate::events::EmailKind;
use crate::templates::{TemplateError, TemplateRenderer};

/// Name of the subject template of `kind` (or of a custom `template_id`).
pub fn subject_template(name: &str) -> String {
    format!("{name}.subject")
}

/// Name of the HTML template of `kind` (or of a custom `template_id`).
pub fn html_template(name: &str) -> String {
    format!("{name}.html")
}

/// `(subject, html)` of the default template of `kind`.
///
/// Every template may use `email`, `user_id`, `campaign_id`, `position`,
/// `original_position` and `verified_referrals`, plus the kind's own fields
/// (always present, possibly null): `verify_url` (verification), `code` and
/// `reward_name` (reward earned), `milestone` and `participant_count`
/// (milestone).
pub fn default_template(kind: EmailKind) -> (&'static str, &'static str) {
    match kind {
        EmailKind::Verification => (
            "{{#if verify_url}}Confirm your email{{else}}Your email is verified{{/if}}",
            "<p>Hi {{email}},</p>{{#if verify_url}}<p>Please confirm your email: \
             <a href=\"{{verify_url}}\">{{verify_url}}</a></p>{{else}}<p>Your email is \
             verified. Thanks!</p>{{/if}}",
        ),
        EmailKind::Welcome => (
            "Welcome to the waitlist",
            "<p>Welcome {{email}}!</p><p>You are on the waitlist (you signed up as number \
             {{original_position}}). Invite friends to move up.</p>",
        ),
        EmailKind::PositionUpdate => (
            "You moved up to #{{position}}",
            "<p>Good news {{email}}: with {{verified_referrals}} verified referrals you are \
             now number {{position}}.</p>",
        ),
        EmailKind::RewardEarned => (
            "You earned {{reward_name}}",
            "<p>Congratulations {{email}}! You earned {{reward_name}}.</p>\
             <p>Your code: <strong>{{code}}</strong></p>",
        ),
        EmailKind::Milestone => (
            "Milestone reached: {{milestone}}",
            "<p>The campaign {{campaign_id}} reached {{participant_count}} participants \
             ({{milestone}}).</p>",
        ),
    }
}

/// A renderer holding the default templates of every kind.
///
/// # Errors
/// Never in practice (the defaults compile); kept for custom registrations.
pub fn default_email_templates() -> Result<TemplateRenderer, TemplateError> {
    let mut renderer = TemplateRenderer::new();
    for kind in EmailKind::ALL {
        let (subject, html) = default_template(kind);
        renderer.register(&subject_template(kind.as_str()), subject)?;
        renderer.register(&html_template(kind.as_str()), html)?;
    }
    Ok(renderer)
}
