//! kustomize's default field specs for built-in kinds (which paths each
//! transformer touches), re-expressed as tables.

use std::sync::OnceLock;

use crate::fieldspec::FieldSpec;
use crate::resid::Gvk;

/// One row: group, version, kind, path, create.
type Row = (&'static str, &'static str, &'static str, &'static str, bool);

fn specs(rows: &[Row]) -> Vec<FieldSpec> {
    rows.iter()
        .map(|(g, v, k, p, c)| FieldSpec::new(g, v, k, p, *c))
        .collect()
}

const METADATA_LABELS: &[Row] = &[
    ("", "", "", "metadata/labels", true),
    (
        "",
        "v1",
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    ("", "", "Deployment", "spec/template/metadata/labels", true),
    ("", "", "ReplicaSet", "spec/template/metadata/labels", true),
    ("", "", "DaemonSet", "spec/template/metadata/labels", true),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/metadata/labels",
        true,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    ("batch", "", "Job", "spec/template/metadata/labels", true),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/metadata/labels",
        true,
    ),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

const AFFINITY: &str = "spec/template/spec/affinity";

fn selector_rows() -> Vec<FieldSpec> {
    let mut out = specs(&[
        ("", "v1", "Service", "spec/selector", true),
        ("", "v1", "ReplicationController", "spec/selector", true),
        ("", "", "Deployment", "spec/selector/matchLabels", true),
    ]);
    let affinity_paths = [
        "podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    ];
    let workload_extras = |kind: &str, out: &mut Vec<FieldSpec>| {
        for p in affinity_paths {
            out.push(FieldSpec::new(
                "apps",
                "",
                kind,
                &format!("{AFFINITY}/{p}"),
                false,
            ));
        }
        out.push(FieldSpec::new(
            "apps",
            "",
            kind,
            "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
            false,
        ));
    };
    workload_extras("Deployment", &mut out);
    out.extend(specs(&[
        ("", "", "ReplicaSet", "spec/selector/matchLabels", true),
        ("", "", "DaemonSet", "spec/selector/matchLabels", true),
        ("apps", "", "StatefulSet", "spec/selector/matchLabels", true),
    ]));
    workload_extras("StatefulSet", &mut out);
    out.extend(specs(&[
        ("batch", "", "Job", "spec/selector/matchLabels", false),
        (
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/selector/matchLabels",
            false,
        ),
        (
            "policy",
            "",
            "PodDisruptionBudget",
            "spec/selector/matchLabels",
            false,
        ),
        (
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/podSelector/matchLabels",
            false,
        ),
        (
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/ingress/from/podSelector/matchLabels",
            false,
        ),
        (
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/egress/to/podSelector/matchLabels",
            false,
        ),
    ]));
    out
}

/// Paths commonLabels (and labels with includeSelectors) touch.
pub(crate) fn common_labels() -> &'static [FieldSpec] {
    static CELL: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut out = selector_rows();
        out.extend(specs(METADATA_LABELS));
        out
    })
}

/// Paths labels with includeTemplates touch.
pub(crate) fn template_labels() -> &'static [FieldSpec] {
    static CELL: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    CELL.get_or_init(|| specs(METADATA_LABELS))
}

/// Paths commonAnnotations touch.
pub(crate) fn common_annotations() -> &'static [FieldSpec] {
    static CELL: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    CELL.get_or_init(|| {
        specs(&[
            ("", "", "", "metadata/annotations", true),
            (
                "",
                "v1",
                "ReplicationController",
                "spec/template/metadata/annotations",
                true,
            ),
            (
                "",
                "",
                "Deployment",
                "spec/template/metadata/annotations",
                true,
            ),
            (
                "",
                "",
                "ReplicaSet",
                "spec/template/metadata/annotations",
                true,
            ),
            (
                "",
                "",
                "DaemonSet",
                "spec/template/metadata/annotations",
                true,
            ),
            (
                "",
                "",
                "StatefulSet",
                "spec/template/metadata/annotations",
                true,
            ),
            (
                "batch",
                "",
                "Job",
                "spec/template/metadata/annotations",
                true,
            ),
            (
                "batch",
                "",
                "CronJob",
                "spec/jobTemplate/metadata/annotations",
                true,
            ),
            (
                "batch",
                "",
                "CronJob",
                "spec/jobTemplate/spec/template/metadata/annotations",
                true,
            ),
        ])
    })
}

/// Paths the namespace transformer touches besides metadata.namespace.
pub(crate) fn namespace() -> &'static [FieldSpec] {
    static CELL: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    CELL.get_or_init(|| {
        specs(&[
            ("", "", "Namespace", "metadata/name", true),
            (
                "apiregistration.k8s.io",
                "",
                "APIService",
                "spec/service/namespace",
                true,
            ),
            (
                "apiextensions.k8s.io",
                "",
                "CustomResourceDefinition",
                "spec/conversion/webhook/clientConfig/service/namespace",
                false,
            ),
        ])
    })
}

/// Paths the replicas transformer touches.
pub(crate) fn replicas() -> &'static [FieldSpec] {
    static CELL: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    CELL.get_or_init(|| {
        specs(&[
            ("", "", "Deployment", "spec/replicas", true),
            ("", "", "ReplicationController", "spec/replicas", true),
            ("", "", "ReplicaSet", "spec/replicas", true),
            ("", "", "StatefulSet", "spec/replicas", true),
        ])
    })
}

/// Paths the images transformer reads through field specs (besides its
/// containers-anywhere pass).
pub(crate) fn images() -> &'static [FieldSpec] {
    static CELL: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    CELL.get_or_init(|| {
        specs(&[
            ("", "", "", "spec/containers[]/image", true),
            ("", "", "", "spec/initContainers[]/image", true),
            ("", "", "", "spec/template/spec/containers[]/image", true),
            (
                "",
                "",
                "",
                "spec/template/spec/initContainers[]/image",
                true,
            ),
        ])
    })
}

/// Where `$(VAR)` references are replaced (kustomize's varReference defaults).
pub(crate) fn var_references() -> &'static [FieldSpec] {
    static CELL: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    CELL.get_or_init(|| {
        const CONTAINER_FIELDS: [&str; 4] =
            ["args", "command", "env/value", "volumeMounts/mountPath"];
        let workload = |kind: &str, pod: &str, volumes: &str, out: &mut Vec<FieldSpec>| {
            for list in ["containers", "initContainers"] {
                for field in CONTAINER_FIELDS {
                    out.push(FieldSpec::new(
                        "",
                        "",
                        kind,
                        &format!("{pod}/{list}/{field}"),
                        false,
                    ));
                }
            }
            out.push(FieldSpec::new("", "", kind, volumes, false));
        };
        let mut out = Vec::new();
        workload(
            "CronJob",
            "spec/jobTemplate/spec/template/spec",
            "spec/jobTemplate/spec/template/volumes/nfs/server",
            &mut out,
        );
        for kind in ["DaemonSet", "Deployment"] {
            workload(
                kind,
                "spec/template/spec",
                "spec/template/spec/volumes/nfs/server",
                &mut out,
            );
        }
        out.extend(specs(&[
            (
                "",
                "",
                "Deployment",
                "spec/template/metadata/annotations",
                false,
            ),
            ("", "", "Ingress", "spec/rules/host", false),
            ("", "", "Ingress", "spec/tls/hosts", false),
            ("", "", "Ingress", "spec/tls/secretName", false),
        ]));
        workload(
            "Job",
            "spec/template/spec",
            "spec/template/spec/volumes/nfs/server",
            &mut out,
        );
        workload("Pod", "spec", "spec/volumes/nfs/server", &mut out);
        workload(
            "ReplicaSet",
            "spec/template/spec",
            "spec/template/spec/volumes/nfs/server",
            &mut out,
        );
        out.extend(specs(&[
            ("", "", "Service", "spec/ports/port", false),
            ("", "", "Service", "spec/ports/targetPort", false),
        ]));
        workload(
            "StatefulSet",
            "spec/template/spec",
            "spec/volumeClaimTemplates/spec/nfs/server",
            &mut out,
        );
        out.extend(specs(&[
            ("", "", "PersistentVolume", "spec/nfs/server", false),
            ("", "", "", "metadata/labels", false),
            ("", "", "", "metadata/annotations", false),
        ]));
        out
    })
}

/// A kind that can be referred to by name, and the fields that refer to it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NameBackReference {
    /// The kind referred to.
    pub target: Gvk,
    /// Fields of other kinds holding its name.
    pub referrers: Vec<FieldSpec>,
}

/// Pod-spec-bearing kinds and where their pod spec lives.
const POD_SPEC_ALL: &[(&str, &str, &str)] = &[
    ("v1", "Pod", "spec"),
    ("", "PodTemplate", "template/spec"),
    ("", "Deployment", "spec/template/spec"),
    ("", "ReplicaSet", "spec/template/spec"),
    ("", "DaemonSet", "spec/template/spec"),
    ("", "StatefulSet", "spec/template/spec"),
    ("", "Job", "spec/template/spec"),
    ("", "CronJob", "spec/jobTemplate/spec/template/spec"),
];

/// Kinds whose pod spec carries service accounts, claims and priority classes.
const POD_SPEC_WORKLOADS: &[(&str, &str, &str)] = &[
    ("", "Pod", "spec"),
    ("", "StatefulSet", "spec/template/spec"),
    ("", "Deployment", "spec/template/spec"),
    ("", "ReplicationController", "spec/template/spec"),
    ("", "CronJob", "spec/jobTemplate/spec/template/spec"),
    ("", "Job", "spec/template/spec"),
    ("", "DaemonSet", "spec/template/spec"),
];

fn pod_refs(kinds: &[(&str, &str, &str)], subpaths: &[&str]) -> Vec<FieldSpec> {
    let mut out = Vec::new();
    for (version, kind, base) in kinds {
        for sub in subpaths {
            out.push(FieldSpec::new(
                "",
                version,
                kind,
                &format!("{base}/{sub}"),
                false,
            ));
        }
    }
    out
}

fn refs(rows: &[(&str, &str, &str)]) -> Vec<FieldSpec> {
    rows.iter()
        .map(|(g, k, p)| FieldSpec::new(g, "", k, p, false))
        .collect()
}

fn back_ref(
    group: &str,
    version: &str,
    kind: &str,
    referrers: Vec<FieldSpec>,
) -> NameBackReference {
    NameBackReference {
        target: Gvk {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        },
        referrers,
    }
}

/// kustomize's default name-reference configuration.
pub(crate) fn name_references() -> &'static [NameBackReference] {
    static CELL: OnceLock<Vec<NameBackReference>> = OnceLock::new();
    CELL.get_or_init(build_name_references)
}

fn build_name_references() -> Vec<NameBackReference> {
    let hpa = |kind: &str| {
        back_ref(
            "",
            "",
            kind,
            refs(&[("", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name")]),
        )
    };
    let mut out = vec![
        hpa("Deployment"),
        hpa("ReplicationController"),
        hpa("ReplicaSet"),
        hpa("StatefulSet"),
    ];

    let mut cm = pod_refs(
        POD_SPEC_ALL,
        &[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ],
    );
    cm.extend(refs(&[
        ("", "Node", "spec/configSource/configMap"),
        ("", "Role", "rules/resourceNames"),
        ("", "ClusterRole", "rules/resourceNames"),
        (
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
        ),
    ]));
    out.push(back_ref("", "v1", "ConfigMap", cm));

    let mut secret = pod_refs(
        POD_SPEC_ALL,
        &[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ],
    );
    secret.extend(refs(&[
        ("", "Ingress", "spec/tls/secretName"),
        (
            "",
            "Ingress",
            "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
        ),
        (
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
        ),
        (
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
        ),
        ("", "ServiceAccount", "imagePullSecrets/name"),
        ("", "StorageClass", "parameters/secretName"),
        ("", "StorageClass", "parameters/adminSecretName"),
        ("", "StorageClass", "parameters/userSecretName"),
        ("", "StorageClass", "parameters/secretRef"),
        ("", "Role", "rules/resourceNames"),
        ("", "ClusterRole", "rules/resourceNames"),
        ("", "PersistentVolume", "spec/azureFile/secretName"),
    ]));
    secret.push(FieldSpec::new(
        "serving.knative.dev",
        "v1",
        "Service",
        "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
        false,
    ));
    out.push(back_ref("", "v1", "Secret", secret));

    out.push(back_ref(
        "",
        "v1",
        "Service",
        refs(&[
            ("apps", "StatefulSet", "spec/serviceName"),
            ("", "Ingress", "spec/rules/http/paths/backend/serviceName"),
            ("", "Ingress", "spec/backend/serviceName"),
            ("", "Ingress", "spec/rules/http/paths/backend/service/name"),
            ("", "Ingress", "spec/defaultBackend/service/name"),
            ("apiregistration.k8s.io", "APIService", "spec/service/name"),
            (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
                "webhooks/clientConfig/service",
            ),
            (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration",
                "webhooks/clientConfig/service",
            ),
        ]),
    ));
    let rbac = "rbac.authorization.k8s.io";
    out.push(back_ref(
        rbac,
        "",
        "Role",
        refs(&[(rbac, "RoleBinding", "roleRef/name")]),
    ));
    out.push(back_ref(
        rbac,
        "",
        "ClusterRole",
        refs(&[
            (rbac, "RoleBinding", "roleRef/name"),
            (rbac, "ClusterRoleBinding", "roleRef/name"),
        ]),
    ));
    let mut sa = refs(&[
        (rbac, "RoleBinding", "subjects"),
        (rbac, "ClusterRoleBinding", "subjects"),
    ]);
    sa.extend(pod_refs(POD_SPEC_WORKLOADS, &["serviceAccountName"]));
    out.push(back_ref("", "v1", "ServiceAccount", sa));
    out.push(back_ref(
        "",
        "v1",
        "PersistentVolumeClaim",
        pod_refs(
            POD_SPEC_WORKLOADS,
            &["volumes/persistentVolumeClaim/claimName"],
        ),
    ));
    out.push(back_ref(
        "",
        "v1",
        "PersistentVolume",
        refs(&[
            ("", "PersistentVolumeClaim", "spec/volumeName"),
            ("", "ClusterRole", "rules/resourceNames"),
        ]),
    ));
    out.push(back_ref(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        refs(&[
            ("", "PersistentVolume", "spec/storageClassName"),
            ("", "PersistentVolumeClaim", "spec/storageClassName"),
            (
                "",
                "StatefulSet",
                "spec/volumeClaimTemplates/spec/storageClassName",
            ),
        ]),
    ));
    out.push(back_ref(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        pod_refs(POD_SPEC_WORKLOADS, &["priorityClassName"]),
    ));
    // kustomize's default writes the IngressClass group as "networking.k8s.io/v1",
    // which never matches; kept as is so output stays identical.
    out.push(back_ref(
        "networking.k8s.io/v1",
        "v1",
        "IngressClass",
        refs(&[("", "Ingress", "spec/ingressClassName")]),
    ));
    out.push(back_ref(
        "admissionregistration.k8s.io",
        "",
        "ValidatingAdmissionPolicy",
        refs(&[(
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
            "spec/policyName",
        )]),
    ));
    out
}
