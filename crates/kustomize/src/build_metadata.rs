//! `buildMetadata`: where each object came from (`config.kubernetes.io/origin`),
//! which transformers touched it (`alpha.config.kubernetes.io/transformations`)
//! and the `app.kubernetes.io/managed-by` label, with kubectl's exact text.

use serde_json::{Map, Value};

use crate::resmap::ResMap;

/// The `buildMetadata` option that keeps origin annotations.
pub(crate) const ORIGIN_ANNOTATIONS: &str = "originAnnotations";
/// The `buildMetadata` option that keeps transformer annotations.
pub(crate) const TRANSFORMER_ANNOTATIONS: &str = "transformerAnnotations";
/// The `buildMetadata` option that adds the managed-by label.
pub(crate) const MANAGED_BY_LABEL: &str = "managedByLabel";

/// Annotation naming an object's origin.
pub(crate) const ORIGIN_KEY: &str = "config.kubernetes.io/origin";
/// Annotation listing the transformers that changed an object.
pub(crate) const TRANSFORMATIONS_KEY: &str = "alpha.config.kubernetes.io/transformations";
/// Label naming the tool that built an object.
pub(crate) const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
/// Its value as the kubectl this engine matches prints it (kubectl's
/// embedded kustomize carries no release version, so it says `(devel)`).
pub(crate) const MANAGED_BY_VALUE: &str = "kustomize-(devel)";

/// The plugin (or builtin field) that produced or changed an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConfiguredBy {
    /// apiVersion of the config (`builtin` for kustomization fields).
    pub api_version: String,
    /// Kind of the config.
    pub kind: String,
    /// metadata.name of the config.
    pub name: String,
    /// metadata.namespace of the config.
    pub namespace: String,
}

/// kustomize's `resource.Origin`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    /// File the object was read from, relative to the top kustomization.
    pub path: String,
    /// Kustomization or config file that configured the generator/transformer.
    pub configured_in: String,
    /// The generator/transformer.
    pub configured_by: Option<ConfiguredBy>,
}

impl Origin {
    /// An origin for a file read at `path`.
    pub fn file(path: String) -> Origin {
        Origin {
            path,
            ..Origin::default()
        }
    }

    /// The origin of a generator or transformer configured in `configured_in`.
    pub fn configured(configured_in: String, by: ConfiguredBy) -> Origin {
        Origin {
            path: String::new(),
            configured_in,
            configured_by: Some(by),
        }
    }

    /// The YAML kubectl writes for an origin (kyaml's marshalling of the struct).
    fn render(&self, indent: &str, first_prefix: &str, out: &mut String) {
        let mut lines: Vec<String> = Vec::new();
        if !self.path.is_empty() {
            lines.push(format!("path: {}", scalar(&self.path)));
        }
        if !self.configured_in.is_empty() {
            lines.push(format!("configuredIn: {}", scalar(&self.configured_in)));
        }
        if let Some(by) = &self.configured_by {
            lines.push("configuredBy:".into());
            for (key, value) in [
                ("apiVersion", &by.api_version),
                ("kind", &by.kind),
                ("name", &by.name),
                ("namespace", &by.namespace),
            ] {
                if !value.is_empty() {
                    lines.push(format!("  {key}: {}", scalar(value)));
                }
            }
        }
        for (i, line) in lines.iter().enumerate() {
            out.push_str(if i == 0 { first_prefix } else { indent });
            out.push_str(line);
            out.push('\n');
        }
    }

    /// Text of the `config.kubernetes.io/origin` annotation.
    pub fn to_annotation(&self) -> String {
        let mut out = String::new();
        self.render("", "", &mut out);
        out
    }
}

/// Text of the `alpha.config.kubernetes.io/transformations` annotation.
pub(crate) fn transformations_annotation(list: &[Origin]) -> String {
    let mut out = String::new();
    for origin in list {
        origin.render("  ", "- ", &mut out);
    }
    out
}

/// A plain scalar when YAML would read it back as the same string, else single-quoted.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./~()+@".contains(c))
        && !s.starts_with('@')
        && s != "~"
        && s != "-"
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        )
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// `filepath.Join` of Go: joins and cleans (`a/../b` is `b`), keeping leading `..`.
pub(crate) fn join(base: &str, rel: &str) -> String {
    let joined = if base.is_empty() {
        rel.to_string()
    } else if rel.is_empty() {
        base.to_string()
    } else {
        format!("{base}/{rel}")
    };
    clean(&joined)
}

fn clean(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let body = parts.join("/");
    match (absolute, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Records a transformer run on every object: kustomize sets the origin of
/// objects that have none, and appends to the transformations of the others.
pub(crate) fn note_transformer(resmap: &mut ResMap, by: &Origin) {
    for res in &mut resmap.items {
        if res.origin.is_none() {
            res.origin = Some(by.clone());
        } else {
            res.transformations.push(by.clone());
        }
    }
}

/// Writes (or strips) the build annotations and label at the end of a build,
/// as the top kustomization's `buildMetadata` asks.
pub(crate) fn finish(resmap: &mut ResMap, options: &[String]) {
    let has = |o: &str| options.iter().any(|x| x == o);
    let (origin, transformations, managed) = (
        has(ORIGIN_ANNOTATIONS),
        has(TRANSFORMER_ANNOTATIONS),
        has(MANAGED_BY_LABEL),
    );
    for res in &mut resmap.items {
        let origin_text = match (&res.origin, origin) {
            (Some(o), true) => Some(o.to_annotation()),
            _ => None,
        };
        let transformations_text = if transformations && !res.transformations.is_empty() {
            Some(transformations_annotation(&res.transformations))
        } else {
            None
        };
        let present = res
            .obj
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_object)
            .is_some_and(|a| a.contains_key(ORIGIN_KEY) || a.contains_key(TRANSFORMATIONS_KEY));
        if present || origin_text.is_some() || transformations_text.is_some() {
            let meta = res.metadata_mut();
            let annotations = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if annotations.is_null() {
                *annotations = Value::Object(Map::new());
            }
            if let Value::Object(a) = annotations {
                a.remove(ORIGIN_KEY);
                a.remove(TRANSFORMATIONS_KEY);
                if let Some(text) = origin_text {
                    a.insert(ORIGIN_KEY.into(), Value::String(text));
                }
                if let Some(text) = transformations_text {
                    a.insert(TRANSFORMATIONS_KEY.into(), Value::String(text));
                }
                if a.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
        if managed {
            let meta = res.metadata_mut();
            let labels = meta
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if labels.is_null() {
                *labels = Value::Object(Map::new());
            }
            if let Value::Object(l) = labels {
                l.insert(
                    MANAGED_BY_KEY.into(),
                    Value::String(MANAGED_BY_VALUE.into()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_like_go() {
        assert_eq!(join("", "service.yaml"), "service.yaml");
        assert_eq!(join("../base", "service.yaml"), "../base/service.yaml");
        assert_eq!(join("a", "../b/k.yaml"), "b/k.yaml");
        assert_eq!(join("..", "../x"), "../../x");
    }

    #[test]
    fn renders_origin_and_transformations_like_kubectl() {
        let file = Origin::file("../base/service.yaml".into());
        assert_eq!(file.to_annotation(), "path: ../base/service.yaml\n");
        let by = Origin::configured(
            "kustomization.yaml".into(),
            ConfiguredBy {
                api_version: "builtin".into(),
                kind: "NamespaceTransformer".into(),
                name: "x".into(),
                namespace: "test".into(),
            },
        );
        assert_eq!(
            transformations_annotation(std::slice::from_ref(&by)),
            "- configuredIn: kustomization.yaml\n  configuredBy:\n    apiVersion: builtin\n    kind: NamespaceTransformer\n    name: x\n    namespace: test\n"
        );
    }

    #[test]
    fn odd_names_are_quoted() {
        assert_eq!(scalar("true"), "'true'");
        assert_eq!(scalar("a: b"), "'a: b'");
        assert_eq!(scalar("it's"), "'it''s'");
        assert_eq!(scalar("p-b-x"), "p-b-x");
    }
}
