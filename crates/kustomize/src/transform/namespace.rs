//! The `namespace` field: metadata.namespace of namespaced objects, the name of
//! Namespace objects, a few service references, and binding subjects named `default`.

use serde_json::Value;

use crate::error::{Failure, Outcome};
use crate::fieldspec::{self, CreateKind, FieldSpec};
use crate::resmap::ResMap;

/// Moves every object into `namespace`.
pub(crate) fn set_namespace(
    resmap: &mut ResMap,
    namespace: &str,
    specs: &[FieldSpec],
) -> Outcome<()> {
    if namespace.is_empty() {
        return Ok(());
    }
    for res in &mut resmap.items {
        if res.is_empty() {
            continue;
        }
        res.store_previous_id();
        let gvk = res.gvk();
        if !gvk.is_cluster_scoped() {
            res.set_namespace(namespace);
        }
        if (gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = res.obj.get_mut("subjects")
        {
            for subject in subjects {
                if let Value::Object(s) = subject
                    && s.get("name").and_then(Value::as_str) == Some("default")
                {
                    s.insert("namespace".into(), Value::String(namespace.to_string()));
                }
            }
        }
        let api_version = res
            .obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for spec in specs {
            if !spec.matches(&gvk) {
                continue;
            }
            let path = spec.path_string();
            // kustomize sets metadata.namespace itself (above) and the
            // subjects of bindings by name; custom specs for those are dropped.
            if path == "metadata/namespace"
                || (api_version != "v1" && path == "metadata/name")
                || ((spec.gvk.kind == "RoleBinding" || spec.gvk.kind == "ClusterRoleBinding")
                    && path == "subjects/namespace"
                    && (gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding"))
            {
                continue;
            }
            fieldspec::apply(&mut res.obj, spec, CreateKind::Scalar, &mut |node| {
                if node.is_null() || node.is_string() {
                    *node = Value::String(namespace.to_string());
                    Ok(())
                } else {
                    Err(Failure::new(
                        "namespace field specs must target scalar nodes",
                    ))
                }
            })?;
        }
    }
    resmap.check_unique().map_err(|e| {
        Failure::new(format!(
            "namespace transformation produces ID conflict: {e}"
        ))
    })
}
