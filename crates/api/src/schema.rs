//! Hand-written schema fragments that schemars cannot derive with Kubernetes' extensions.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Schema of `status.conditions`: a list of `metav1.Condition` that the API server merges
/// as a map keyed on `type` (`x-kubernetes-list-type: map`).
pub fn conditions(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Conditions of the object's state: Ready, Reconciling, Stalled and kind-specific ones, in the standard metav1.Condition shape.",
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "description": "Condition contains details for one aspect of the current state of this API Resource.",
            "type": "object",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "lastTransitionTime": {
                    "description": "When the condition last changed from one status to another.",
                    "type": "string",
                    "format": "date-time"
                },
                "message": {
                    "description": "A human readable message with details about the transition.",
                    "type": "string",
                    "maxLength": 32768
                },
                "observedGeneration": {
                    "description": "The .metadata.generation that the condition was set based upon.",
                    "type": "integer",
                    "format": "int64",
                    "minimum": 0
                },
                "reason": {
                    "description": "A programmatic identifier (CamelCase) of the reason for the last transition.",
                    "type": "string",
                    "maxLength": 1024,
                    "minLength": 1,
                    "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
                },
                "status": {
                    "description": "Status of the condition: True, False or Unknown.",
                    "type": "string",
                    "enum": ["True", "False", "Unknown"]
                },
                "type": {
                    "description": "Type of condition in CamelCase.",
                    "type": "string",
                    "maxLength": 316,
                    "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
                }
            }
        }
    })
}

/// Schema of a `metav1.LabelSelector`.
pub fn label_selector(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "A label query over a set of resources: matchLabels and matchExpressions are ANDed; an empty selector matches everything.",
        "type": "object",
        "properties": {
            "matchLabels": {
                "description": "Labels that must all match exactly.",
                "type": "object",
                "additionalProperties": {"type": "string"}
            },
            "matchExpressions": {
                "description": "Label selector requirements, ANDed.",
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["key", "operator"],
                    "properties": {
                        "key": {"description": "The label key.", "type": "string"},
                        "operator": {"description": "In, NotIn, Exists or DoesNotExist.", "type": "string", "enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                        "values": {"description": "Values for In and NotIn.", "type": "array", "items": {"type": "string"}}
                    }
                }
            }
        },
        "x-kubernetes-map-type": "atomic"
    })
}
