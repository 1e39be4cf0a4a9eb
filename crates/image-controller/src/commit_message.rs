//! Commit messages from `spec.git.commit.messageTemplate`.
//!
//! Flux renders Go templates; Driftless supports the two values every template needs,
//! `{{ .AutomationObject }}` (`namespace/name`) and `{{ .Changes }}` (one line per rewritten
//! value), and refuses any other action rather than committing it verbatim.

use crate::Error;
use crate::setters::Change;

/// Used when the spec has no template.
pub const DEFAULT_TEMPLATE: &str =
    "Update images from ImageUpdateAutomation {{ .AutomationObject }}\n\n{{ .Changes }}";

/// Renders `template` (or the default) for the automation `namespace/name` and `changes`.
pub fn render(
    template: Option<&str>,
    automation: &str,
    changes: &[Change],
) -> Result<String, Error> {
    let template = template
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(DEFAULT_TEMPLATE);
    let mut out = String::with_capacity(template.len() + 80 * changes.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| invalid("an unclosed '{{'"))?;
        match after[..end].trim() {
            ".AutomationObject" => out.push_str(automation),
            ".Changes" => {
                let lines: Vec<String> = changes.iter().map(|c| format!("- {c}")).collect();
                out.push_str(&lines.join("\n"));
            }
            other => {
                return Err(invalid(&format!(
                    "'{{{{ {other} }}}}' is not supported (only {{{{ .AutomationObject }}}} and {{{{ .Changes }}}})"
                )));
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

fn invalid(reason: &str) -> Error {
    Error::InvalidSpec(format!("spec.git.commit.messageTemplate: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setters::PolicyKey;

    fn change(file: &str, old: &str, new: &str) -> Change {
        Change {
            file: file.into(),
            line: 3,
            policy: PolicyKey {
                namespace: "ns".into(),
                name: "web".into(),
            },
            old: old.into(),
            new: new.into(),
        }
    }

    #[test]
    fn lists_every_change() {
        let changes = [
            change("a.yaml", "r/web:1.0.0", "r/web:1.1.0"),
            change("b.yaml", "1.0.0", "1.1.0"),
        ];
        let message = render(None, "ns/auto", &changes).unwrap();
        assert_eq!(
            message,
            "Update images from ImageUpdateAutomation ns/auto\n\n- a.yaml:3: r/web:1.0.0 -> r/web:1.1.0 (ns:web)\n- b.yaml:3: 1.0.0 -> 1.1.0 (ns:web)\n"
        );
        assert_eq!(
            render(Some("chore: bump {{.Changes}}"), "ns/auto", &changes[..1]).unwrap(),
            "chore: bump - a.yaml:3: r/web:1.0.0 -> r/web:1.1.0 (ns:web)\n"
        );
    }

    #[test]
    fn unsupported_actions_are_refused() {
        let err = render(Some("{{ range .Changed.Changes }}x{{ end }}"), "ns/a", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("spec.git.commit.messageTemplate")
                && err.contains("range .Changed.Changes"),
            "{err}"
        );
        assert!(
            render(Some("oops {{ .Changes"), "ns/a", &[])
                .unwrap_err()
                .to_string()
                .contains("unclosed")
        );
    }
}
