//! The per-object `kustomize.driftless.dev/ssa` annotation: how an object is applied.

use driftless_api::well_known::SSA_ANNOTATION;
use serde_json::Value;

/// How one object is applied, chosen by its `kustomize.driftless.dev/ssa` annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SsaPolicy {
    /// Apply and take ownership of every field the manifest sets, from any other field
    /// manager (server-side apply with force). The default.
    #[default]
    Override,
    /// Apply without force: fields other managers own are not taken over, and a
    /// conflicting value is an error naming the object.
    Merge,
    /// Create the object when it is absent; never change it afterwards.
    IfNotPresent,
    /// Do not apply the object at all (also honoured when the live object carries it).
    Ignore,
}

impl SsaPolicy {
    /// Reads the policy from an object's annotations. Values match case-insensitively;
    /// an unknown value is returned as the error.
    pub fn of(object: &Value) -> Result<Self, String> {
        let Some(value) = object
            .pointer("/metadata/annotations")
            .and_then(|annotations| annotations.get(SSA_ANNOTATION))
        else {
            return Ok(Self::Override);
        };
        let text = value.as_str().unwrap_or_default();
        match text.to_ascii_lowercase().as_str() {
            "override" => Ok(Self::Override),
            "merge" => Ok(Self::Merge),
            "ifnotpresent" => Ok(Self::IfNotPresent),
            "ignore" => Ok(Self::Ignore),
            _ => Err(format!(
                "annotation {SSA_ANNOTATION}: unknown value {value}, expected Override, Merge, IfNotPresent or Ignore"
            )),
        }
    }

    /// Whether server-side apply requests take field ownership from other managers.
    pub fn force_ownership(self) -> bool {
        !matches!(self, Self::Merge)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn annotated(value: Value) -> Value {
        json!({"metadata": {"annotations": {"kustomize.driftless.dev/ssa": value}}})
    }

    #[test]
    fn parses_every_policy() {
        assert_eq!(
            SsaPolicy::of(&json!({"metadata": {}})),
            Ok(SsaPolicy::Override)
        );
        assert_eq!(
            SsaPolicy::of(&annotated("Override".into())),
            Ok(SsaPolicy::Override)
        );
        assert_eq!(
            SsaPolicy::of(&annotated("Merge".into())),
            Ok(SsaPolicy::Merge)
        );
        assert_eq!(
            SsaPolicy::of(&annotated("merge".into())),
            Ok(SsaPolicy::Merge)
        );
        assert_eq!(
            SsaPolicy::of(&annotated("IfNotPresent".into())),
            Ok(SsaPolicy::IfNotPresent)
        );
        assert_eq!(
            SsaPolicy::of(&annotated("Ignore".into())),
            Ok(SsaPolicy::Ignore)
        );
    }

    #[test]
    fn unknown_values_are_errors() {
        let error = SsaPolicy::of(&annotated("Replace".into())).unwrap_err();
        assert!(error.contains("\"Replace\""), "{error}");
        assert!(SsaPolicy::of(&annotated(json!(true))).is_err());
    }

    #[test]
    fn only_merge_gives_up_ownership() {
        assert!(SsaPolicy::Override.force_ownership());
        assert!(SsaPolicy::IfNotPresent.force_ownership());
        assert!(!SsaPolicy::Merge.force_ownership());
    }
}
