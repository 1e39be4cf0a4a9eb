//! `metav1.LabelSelector` → the string form list calls take.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::Error;

/// `spec.policySelector` as a selector string (`a=b,c in (d,e),!f`); empty selects all.
pub fn to_query(selector: &LabelSelector, field: &str) -> Result<String, Error> {
    let mut terms: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for (i, expression) in selector.match_expressions.iter().flatten().enumerate() {
        let values = expression.values.clone().unwrap_or_default().join(",");
        let key = &expression.key;
        terms.push(match expression.operator.as_str() {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            other => {
                return Err(Error::InvalidSpec(format!(
                    "{field}.matchExpressions[{i}].operator: unknown operator '{other}'"
                )));
            }
        });
    }
    Ok(terms.join(","))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    #[test]
    fn labels_and_expressions() {
        let requirement = |key: &str, operator: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        };
        let selector = LabelSelector {
            match_labels: Some([("team".to_owned(), "a".to_owned())].into()),
            match_expressions: Some(vec![
                requirement("env", "In", &["dev", "prod"]),
                requirement("skip", "DoesNotExist", &[]),
                requirement("x", "NotIn", &["y"]),
                requirement("auto", "Exists", &[]),
            ]),
        };
        assert_eq!(
            to_query(&selector, "spec.policySelector").unwrap(),
            "team=a,env in (dev,prod),!skip,x notin (y),auto"
        );
        assert_eq!(to_query(&LabelSelector::default(), "s").unwrap(), "");
        let bad = LabelSelector {
            match_expressions: Some(vec![requirement("k", "Gt", &["1"])]),
            ..Default::default()
        };
        assert!(
            to_query(&bad, "spec.policySelector")
                .unwrap_err()
                .to_string()
                .contains("spec.policySelector.matchExpressions[0].operator")
        );
    }
}
