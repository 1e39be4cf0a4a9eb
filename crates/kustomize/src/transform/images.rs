//! The `images` field: rewrite container images by name.

use serde_json::Value;

use crate::error::{Failure, Outcome};
use crate::fieldspec::{self, CreateKind, FieldSpec};
use crate::kustomization::Image;
use crate::resmap::ResMap;

/// An image entry with its compiled name pattern.
struct Rule<'a> {
    image: &'a Image,
    pattern: regex::Regex,
}

/// Paths (from the object root, list positions skipped) of the `containers`
/// lists the built-in image field specs (same order as
/// [`crate::builtin_specs::images`]) name; kustomize reaches a list a second
/// time after its any-`containers`-anywhere pass when its spec is configured.
const SPEC_PATHS: [&[&str]; 4] = [
    &["spec", "containers"],
    &["spec", "initContainers"],
    &["spec", "template", "spec", "containers"],
    &["spec", "template", "spec", "initContainers"],
];

/// Applies the image rewrites, in order, to every object (the `images` field
/// or an ImageTagTransformer): the containers-anywhere pass, then the fields
/// `specs` name (one walk per object).
pub(crate) fn set_images(
    resmap: &mut ResMap,
    images: &[Image],
    specs: &[FieldSpec],
) -> Outcome<()> {
    if images.is_empty() {
        return Ok(());
    }
    let mut rules = Vec::with_capacity(images.len());
    for image in images {
        let pattern = crate::regex_cache::compile(&format!(
            "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
            image.name
        ))
        .map_err(|e| Failure::new(format!("images: invalid name '{}': {e}", image.name)))?;
        rules.push(Rule { image, pattern });
    }
    // The built-in specs are what the walk reaches a second time; the
    // others (from `configurations` or a transformer config) are applied after.
    let defaults = crate::builtin_specs::images();
    let twice_at: Vec<&[&str]> = SPEC_PATHS
        .iter()
        .zip(defaults)
        .filter(|(_, d)| specs.contains(d))
        .map(|(p, _)| *p)
        .collect();
    let extra: Vec<&FieldSpec> = specs.iter().filter(|s| !defaults.contains(s)).collect();
    for res in &mut resmap.items {
        if res.kind() == "CustomResourceDefinition" {
            continue;
        }
        let mut path = Vec::new();
        for (key, value) in res.obj.iter_mut() {
            path.push(key.clone());
            walk_with(value, &mut path, &rules, &twice_at)?;
            path.pop();
        }
        if extra.is_empty() {
            continue;
        }
        let gvk = res.gvk();
        for rule in &rules {
            for spec in &extra {
                if !spec.matches(&gvk) {
                    continue;
                }
                fieldspec::apply(&mut res.obj, spec, CreateKind::Nothing, &mut |node| {
                    rewrite(node, rule.image, &rule.pattern)
                })?;
            }
        }
    }
    Ok(())
}

fn walk_with(
    node: &mut Value,
    path: &mut Vec<String>,
    rules: &[Rule<'_>],
    twice_at: &[&[&str]],
) -> Outcome<()> {
    match node {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                path.push(key.clone());
                walk_with(value, path, rules, twice_at)?;
                if key == "containers" || key == "initContainers" {
                    let twice = twice_at.iter().any(|p| p.iter().eq(path.iter()));
                    if let Value::Array(items) = value {
                        for item in items {
                            if let Some(img) = item.as_object_mut().and_then(|o| o.get_mut("image"))
                            {
                                for rule in rules {
                                    rewrite(img, rule.image, &rule.pattern)?;
                                    if twice {
                                        rewrite(img, rule.image, &rule.pattern)?;
                                    }
                                }
                            }
                        }
                    }
                }
                path.pop();
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items {
                walk_with(item, path, rules, twice_at)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn rewrite(node: &mut Value, image: &Image, pattern: &regex::Regex) -> Outcome<()> {
    let current = match node {
        Value::String(s) => s.clone(),
        Value::Null => return Ok(()),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(Failure::new("image field must be a scalar")),
    };
    if !pattern.is_match(&current) {
        return Ok(());
    }
    let (mut name, mut tag, mut digest) = split_image(&current);
    if !image.new_name.is_empty() {
        name = image.new_name.clone();
    }
    if !image.new_tag.is_empty() && !image.digest.is_empty() {
        tag = image.new_tag.clone();
        digest = image.digest.clone();
    } else if !image.new_tag.is_empty() {
        tag = image.new_tag.clone();
        digest.clear();
    } else if !image.digest.is_empty() {
        tag.clear();
        digest = image.digest.clone();
    } else if !image.tag_suffix.is_empty() {
        tag.push_str(&image.tag_suffix);
        digest.clear();
    }
    let mut out = name;
    if !tag.is_empty() {
        out.push(':');
        out.push_str(&tag);
    }
    if !digest.is_empty() {
        out.push('@');
        out.push_str(&digest);
    }
    *node = Value::String(out);
    Ok(())
}

/// Splits `name[:tag][@digest]`, ignoring colons before the first slash (registry ports).
pub(crate) fn split_image(image: &str) -> (String, String, String) {
    let offset = match image.find('/') {
        Some(i) if i > 0 => i,
        _ => 0,
    };
    let search = &image[offset..];
    let at = search.find('@');
    let colon = search.find(':');
    match (colon, at) {
        (None, None) => (image.to_string(), String::new(), String::new()),
        (c, Some(a)) if c.is_none() || Some(a) < c => (
            image[..offset + a].to_string(),
            String::new(),
            image[offset + a + 1..].to_string(),
        ),
        (Some(c), Some(a)) => (
            image[..offset + c].to_string(),
            image[offset + c + 1..offset + a].to_string(),
            image[offset + a + 1..].to_string(),
        ),
        (Some(c), None) => (
            image[..offset + c].to_string(),
            image[offset + c + 1..].to_string(),
            String::new(),
        ),
        (None, Some(_)) => (image.to_string(), String::new(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn splits_registry_port_tag_and_digest() {
        assert_eq!(
            split_image("reg:5000/app:1.0@sha256:abc"),
            ("reg:5000/app".into(), "1.0".into(), "sha256:abc".into())
        );
        assert_eq!(split_image("nginx"), ("nginx".into(), "".into(), "".into()));
        assert_eq!(
            split_image("nginx@sha256:x"),
            ("nginx".into(), "".into(), "sha256:x".into())
        );
    }
}
