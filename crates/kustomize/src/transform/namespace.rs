//! The `namespace` field: metadata.namespace of namespaced objects, the name of
//! Namespace objects, a few service references, and binding subjects named `default`.

use serde_json::Value;

use crate::error::{Failure, Outcome};
use crate::fieldspec::{self, CreateKind, FieldSpec};
use crate::resmap::ResMap;
use crate::resource::Resource;

/// How a namespace change treats (Cluster)RoleBinding subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SubjectMode {
    /// Subjects named `default` (kustomize's `defaultOnly`).
    #[default]
    DefaultOnly,
    /// Every ServiceAccount subject (`allServiceAccounts`).
    AllServiceAccounts,
    /// None (`none`).
    None,
}

/// Moves every object into `namespace` (the `namespace` field or a
/// NamespaceTransformer): metadata.namespace of namespaced objects plus the
/// fields `specs` name; `unset_only` leaves fields that already hold a value.
pub(crate) fn set_namespace(
    resmap: &mut ResMap,
    namespace: &str,
    specs: &[FieldSpec],
    unset_only: bool,
    subjects: SubjectMode,
) -> Outcome<()> {
    if namespace.is_empty() {
        return Ok(());
    }
    for res in &mut resmap.items {
        if res.is_empty() {
            continue;
        }
        res.store_previous_id();
        set_object_namespace(res, namespace, specs, unset_only, subjects)?;
    }
    resmap.check_unique().map_err(|e| {
        Failure::new(format!(
            "namespace transformation produces ID conflict: {e}"
        ))
    })
}

/// Sets the namespace of one object (kustomize's namespace filter).
pub(crate) fn set_object_namespace(
    res: &mut Resource,
    namespace: &str,
    specs: &[FieldSpec],
    unset_only: bool,
    subjects: SubjectMode,
) -> Outcome<()> {
    let set = |node: &mut Value| -> Outcome<()> {
        let empty = match node {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            _ => false,
        };
        if unset_only && !empty {
            return Ok(());
        }
        *node = Value::String(namespace.to_string());
        Ok(())
    };
    let gvk = res.gvk();
    if !gvk.is_cluster_scoped() {
        let meta = res.metadata_mut();
        let node = meta.entry("namespace").or_insert(Value::Null);
        set(node)?;
    }
    let binding = gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding";
    if binding
        && subjects != SubjectMode::None
        && let Some(Value::Array(list)) = res.obj.get_mut("subjects")
    {
        for subject in list {
            if let Value::Object(s) = subject {
                let chosen = match subjects {
                    SubjectMode::DefaultOnly => {
                        s.get("name").and_then(Value::as_str) == Some("default")
                    }
                    SubjectMode::AllServiceAccounts => {
                        s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                    }
                    SubjectMode::None => false,
                };
                if chosen {
                    set(s.entry("namespace").or_insert(Value::Null))?;
                }
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
        // kustomize sets metadata.namespace itself (above) and the subjects
        // of bindings by name; specs for those are dropped.
        let spec_binding = spec.gvk.kind == "RoleBinding" || spec.gvk.kind == "ClusterRoleBinding";
        if path == "metadata/namespace"
            || (api_version != "v1" && path == "metadata/name")
            || (spec_binding && binding && path == "subjects/namespace")
        {
            continue;
        }
        fieldspec::apply(&mut res.obj, spec, CreateKind::Scalar, &mut |node| {
            if node.is_null() || node.is_string() {
                set(node)
            } else {
                Err(Failure::new(
                    "namespace field specs must target scalar nodes",
                ))
            }
        })?;
    }
    Ok(())
}
