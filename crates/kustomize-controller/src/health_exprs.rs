//! `spec.healthCheckExprs`: CEL expressions (`current`, `inProgress`, `failed`) judging the
//! health of custom resources, per API group and kind, as Flux evaluates them. Compiled when
//! the Kustomization is reconciled, before anything is applied, so a bad expression fails the
//! reconcile naming it.

use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr};
use cel::{Context as CelContext, IdedExpr, Program, Value as CelValue};
use driftless_api::kustomize::CustomHealthCheck;
use driftless_apply::{CustomHealth, Health, HealthStatus};
use serde_json::Value;

use crate::Error;

/// At most this many comprehension macros (`all`, `exists`, `map`, `filter`, …) nested in one
/// expression: each level multiplies the work by the size of a list in the object.
const MAX_COMPREHENSION_DEPTH: usize = 2;
/// At most this many AST nodes per expression.
const MAX_NODES: usize = 1000;

struct Compiled {
    group: String,
    kind: Option<String>,
    current: Program,
    in_progress: Option<Program>,
    failed: Option<Program>,
}

/// The compiled expressions of one Kustomization.
pub struct HealthExprs {
    entries: Vec<Compiled>,
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// (nodes, deepest comprehension nesting) of an expression.
fn measure(expr: &IdedExpr) -> (usize, usize) {
    let mut nodes = 1;
    let mut depth = 0;
    let mut visit = |child: &IdedExpr, extra: usize| {
        let (n, d) = measure(child);
        nodes += n;
        depth = depth.max(d + extra);
    };
    match &expr.expr {
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                visit(target, 0);
            }
            for arg in &call.args {
                visit(arg, 0);
            }
        }
        Expr::Comprehension(c) => {
            visit(&c.iter_range, 1);
            visit(&c.accu_init, 1);
            visit(&c.loop_cond, 1);
            visit(&c.loop_step, 1);
            visit(&c.result, 1);
        }
        Expr::List(list) => {
            for e in &list.elements {
                visit(e, 0);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(e) = &entry.expr {
                    visit(&e.key, 0);
                    visit(&e.value, 0);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                match &entry.expr {
                    EntryExpr::MapEntry(e) => {
                        visit(&e.key, 0);
                        visit(&e.value, 0);
                    }
                    EntryExpr::StructField(f) => visit(&f.value, 0),
                }
            }
        }
        Expr::Select(select) => visit(&select.operand, 0),
        _ => {}
    }
    (nodes, depth)
}

fn compile(index: usize, field: &str, source: &str) -> Result<Program, Error> {
    let invalid = |why: String| {
        Error::InvalidSpec(format!(
            "healthCheckExprs[{index}].{field} '{source}' is not a valid CEL expression: {why}"
        ))
    };
    let program = Program::compile(source).map_err(|e| invalid(e.to_string()))?;
    let (nodes, depth) = measure(program.expression());
    if nodes > MAX_NODES {
        return Err(invalid(format!("more than {MAX_NODES} nodes")));
    }
    if depth > MAX_COMPREHENSION_DEPTH {
        return Err(invalid(format!(
            "more than {MAX_COMPREHENSION_DEPTH} nested macros (all, exists, map, filter)"
        )));
    }
    Ok(program)
}

impl HealthExprs {
    /// Compiles every expression; the error names the entry, field and expression.
    pub fn compile(checks: &[CustomHealthCheck]) -> Result<Option<Arc<HealthExprs>>, Error> {
        if checks.is_empty() {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(checks.len());
        for (i, check) in checks.iter().enumerate() {
            let optional = |field: &str, source: &Option<String>| {
                source
                    .as_deref()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| compile(i, field, s))
                    .transpose()
            };
            entries.push(Compiled {
                group: group_of(&check.api_version).to_owned(),
                kind: check.kind.clone().filter(|k| !k.is_empty()),
                current: compile(i, "current", &check.current)?,
                in_progress: optional("inProgress", &check.in_progress)?,
                failed: optional("failed", &check.failed)?,
            });
        }
        Ok(Some(Arc::new(HealthExprs { entries })))
    }

    fn entry_for(&self, group: &str, kind: &str) -> Option<&Compiled> {
        let in_group = || self.entries.iter().filter(|e| e.group == group);
        in_group()
            .find(|e| e.kind.as_deref() == Some(kind))
            .or_else(|| in_group().find(|e| e.kind.is_none()))
    }
}

/// Evaluates `program` with the object's top-level fields as variables.
fn evaluate(program: &Program, object: &Value) -> Result<bool, String> {
    let mut context = CelContext::default();
    if let Some(fields) = object.as_object() {
        for (name, value) in fields {
            context
                .add_variable(name.as_str(), value)
                .map_err(|e| e.to_string())?;
        }
    }
    match program.execute(&context) {
        Ok(CelValue::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("returned {other:?}, not a bool")),
        Err(e) => Err(e.to_string()),
    }
}

impl CustomHealth for HealthExprs {
    fn judge(&self, object: &Value) -> Option<Health> {
        let group = group_of(object.get("apiVersion")?.as_str()?);
        let kind = object.get("kind")?.as_str()?;
        let entry = self.entry_for(group, kind)?;
        let checks = [
            (
                entry.in_progress.as_ref(),
                HealthStatus::InProgress,
                "inProgress",
            ),
            (entry.failed.as_ref(), HealthStatus::Failed, "failed"),
            (Some(&entry.current), HealthStatus::Current, "current"),
        ];
        for (program, status, field) in checks {
            let Some(program) = program else { continue };
            match evaluate(program, object) {
                Ok(true) => {
                    return Some(Health {
                        status,
                        message: format!("healthCheckExprs: '{field}' is true"),
                    });
                }
                Ok(false) => {}
                Err(e) => {
                    // Like Flux: a field that does not exist yet means "not yet", not failure.
                    return Some(Health {
                        status: HealthStatus::InProgress,
                        message: format!("healthCheckExprs: '{field}' could not be evaluated: {e}"),
                    });
                }
            }
        }
        Some(Health {
            status: HealthStatus::InProgress,
            message: "healthCheckExprs: no expression is true yet".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(current: &str, failed: Option<&str>) -> CustomHealthCheck {
        CustomHealthCheck {
            api_version: "example.com/v1".into(),
            kind: Some("Widget".into()),
            current: current.into(),
            in_progress: None,
            failed: failed.map(str::to_owned),
        }
    }

    fn widget(phase: &str) -> Value {
        serde_json::json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"},
            "status": {"conditions": [{"type": "Synced", "status": phase}]}
        })
    }

    #[test]
    fn expressions_judge_their_kind_in_flux_order() {
        let exprs = HealthExprs::compile(&[check(
            "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'True')",
            Some("status.conditions.exists(e, e.type == 'Synced' && e.status == 'False')"),
        )])
        .unwrap()
        .unwrap();
        assert_eq!(
            exprs.judge(&widget("True")).unwrap().status,
            HealthStatus::Current
        );
        assert_eq!(
            exprs.judge(&widget("False")).unwrap().status,
            HealthStatus::Failed
        );
        assert_eq!(
            exprs.judge(&widget("Unknown")).unwrap().status,
            HealthStatus::InProgress
        );
        let no_status = serde_json::json!({"apiVersion": "example.com/v1", "kind": "Widget"});
        assert_eq!(
            exprs.judge(&no_status).unwrap().status,
            HealthStatus::InProgress
        );
        // Other kinds are left to kstatus.
        let other = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        assert!(exprs.judge(&other).is_none());
    }

    #[test]
    fn invalid_and_costly_expressions_are_refused_naming_them() {
        let err = HealthExprs::compile(&[check("status.phase ==", None)])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("healthCheckExprs[0].current") && err.contains("'status.phase =='"),
            "{err}"
        );
        let nested = "[1,2].all(a, [1,2].all(b, [1,2].all(c, true)))";
        let err = HealthExprs::compile(&[check(nested, None)])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("nested"), "{err}");
    }
}
