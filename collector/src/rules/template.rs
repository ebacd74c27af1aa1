//! Templates in the annotations of user rules (`summary`, `runbook_url`, ...): text with
//! `{{ labels.NAME }}` (the alert's labels: the rule's own and its `group_by` values),
//! `{{ value }}` (the count that fired it) and `{{ event.FIELD }}` (the event that fired it:
//! `host`, `site`, `app`, `source`, `severity`, `kind`, `message`, `fields.NAME`).
//!
//! A template that cannot be read (a `{{` without `}}`, a name that is none of those) is refused
//! at start with the rule's name. A name with no value when the alert fires (a label or field
//! the event did not have) renders as nothing and is logged as a warning: a page with a gap is
//! better than no page.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Label(String),
    Value,
    Event(String),
}

/// A template that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{{` without a closing `}}}}`")]
    Unclosed,
    #[error("`{{{{ {0} }}}}` is not labels.NAME, value or event.FIELD")]
    Unknown(String),
}

fn parse(text: &str) -> Result<Vec<Part>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("{{") {
        if at > 0 {
            parts.push(Part::Text(rest[..at].to_owned()));
        }
        let after = &rest[at + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
        let name = after[..end].trim();
        parts.push(if name == "value" {
            Part::Value
        } else if let Some(l) = name.strip_prefix("labels.").filter(|l| !l.is_empty()) {
            Part::Label(l.to_owned())
        } else if let Some(f) = name.strip_prefix("event.").filter(|f| !f.is_empty()) {
            Part::Event(f.to_owned())
        } else {
            return Err(TemplateError::Unknown(name.to_owned()));
        });
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok(parts)
}

/// Checks a template (at config time).
pub fn check(text: &str) -> Result<(), TemplateError> {
    parse(text).map(|_| ())
}

/// Renders `text`; returns it with the names that had no value (rendered empty).
pub fn render<'a>(
    text: &str,
    labels: &BTreeMap<String, String>,
    value: u64,
    event: &dyn Fn(&str) -> Option<Cow<'a, str>>,
) -> (String, Vec<String>) {
    let Ok(parts) = parse(text) else {
        // Checked at start; should it not be, the text goes as written.
        return (text.to_owned(), Vec::new());
    };
    let mut out = String::new();
    let mut missing = Vec::new();
    for p in parts {
        match p {
            Part::Text(t) => out.push_str(&t),
            Part::Value => out.push_str(&value.to_string()),
            Part::Label(l) => match labels.get(&l) {
                Some(v) => out.push_str(v),
                None => missing.push(format!("labels.{l}")),
            },
            Part::Event(f) => match event(&f) {
                Some(v) => out.push_str(&v),
                None => missing.push(format!("event.{f}")),
            },
        }
    }
    (out, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_value_and_event_fields_are_filled_in_and_a_missing_one_is_empty() {
        let labels = BTreeMap::from([("host".to_owned(), "mbox3".to_owned())]);
        let event = |f: &str| (f == "app").then_some(Cow::Borrowed("mailboxd"));
        let (s, missing) = render(
            "{{ labels.host }}: {{value}} OOMs in {{ event.app }}{{ labels.array }}; see https://wiki/{{labels.host}}",
            &labels,
            3,
            &event,
        );
        assert_eq!(s, "mbox3: 3 OOMs in mailboxd; see https://wiki/mbox3");
        assert_eq!(missing, ["labels.array"]);
        assert_eq!(render("plain", &labels, 0, &event).0, "plain");
    }

    #[test]
    fn an_unreadable_template_is_refused() {
        assert_eq!(check("{{ labels.host "), Err(TemplateError::Unclosed));
        assert_eq!(
            check("{{ host }}"),
            Err(TemplateError::Unknown("host".into()))
        );
        assert!(check("{{ labels. }}").is_err());
        assert!(check("no templates at all").is_ok());
    }
}
