// Request bodies captured from kubectl v1.32.4 (the built-in kubectl of the dispatcher on the
// development machines) against a loopback stub, with the JSON Kubernetes gives for each object.
// `expected` comes from the same command with `--dry-run=client -o json` unless noted.

export interface KubectlFixture {
  name: string;
  command: string;
  path: string;
  /** The request body, base64. */
  body: string;
  expected: Record<string, unknown>;
  /** Set when `expected` is not kubectl's dry-run output. */
  expectedNote?: string;
}

export const KUBECTL_FIXTURES: KubectlFixture[] = [
  {
    name: "ConfigMap",
    command: "kubectl create configmap c --from-literal=a=b --from-literal=z=y",
    path: "/api/v1/namespaces/default/configmaps",
    body: "azhzAAoPCgJ2MRIJQ29uZmlnTWFwEiMKEQoBYxIAGgAiACoAMgA4AEIAEgYKAWESAWISBgoBehIBeRoAIgA=",
    expected: {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c", "creationTimestamp": null}, "data": {"a": "b", "z": "y"}},
  },
  {
    name: "ConfigMap with binaryData",
    command: "kubectl create configmap cb --from-file=bin=bin.dat --from-literal=x= (bin.dat = 00 ff fe ' binary\\n')",
    path: "/api/v1/namespaces/default/configmaps",
    body: "azhzAAoPCgJ2MRIJQ29uZmlnTWFwEi8KEgoCY2ISABoAIgAqADIAOABCABIFCgF4EgAaEgoDYmluEgsA//4gYmluYXJ5ChoAIgA=",
    expected: {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cb", "creationTimestamp": null}, "data": {"x": ""}, "binaryData": {"bin": "AP/+IGJpbmFyeQo="}},
  },
  {
    name: "Secret",
    command: "kubectl create secret generic s --from-literal=k=v",
    path: "/api/v1/namespaces/default/secrets",
    body: "azhzAAoMCgJ2MRIGU2VjcmV0Eh0KEQoBcxIAGgAiACoAMgA4AEIAEgYKAWsSAXYaABoAIgA=",
    expected: {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s", "creationTimestamp": null}, "data": {"k": "dg=="}},
  },
  {
    name: "Secret with a type and binary data",
    command: "kubectl create secret generic sb --from-file=bin=bin.dat --type=example.com/x",
    path: "/api/v1/namespaces/default/secrets",
    body: "azhzAAoMCgJ2MRIGU2VjcmV0EjcKEgoCc2ISABoAIgAqADIAOABCABISCgNiaW4SCwD//iBiaW5hcnkKGg1leGFtcGxlLmNvbS94GgAiAA==",
    expected: {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "sb", "creationTimestamp": null}, "data": {"bin": "AP/+IGJpbmFyeQo="}, "type": "example.com/x"},
  },
  {
    name: "Deployment",
    command: "kubectl create deployment d --image=busybox --replicas=2 --port=80",
    path: "/apis/apps/v1/namespaces/default/deployments",
    body: "azhzAAoVCgdhcHBzL3YxEgpEZXBsb3ltZW50ErQBChsKAWQSABoAIgAqADIAOABCAFoICgNhcHASAWQShgEIAhIKCggKA2FwcBIBZBpuChoKABIAGgAiACoAMgA4AEIAWggKA2FwcBIBZBJQEjIKB2J1c3lib3gSB2J1c3lib3gqADIKCgAQABhQIgAqAEIAagByAIABAIgBAJABAKIBABoAMgBCAEoAUgBYAGAAaACCAQCKAQCaAQDCAQAiAgoAKAA4ABoMCAAQABgAIAAoADgAGgAiAA==",
    expected: {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "d", "creationTimestamp": null, "labels": {"app": "d"}}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "d"}}, "spec": {"containers": [{"name": "busybox", "image": "busybox", "ports": [{"containerPort": 80}], "resources": {}}]}}, "strategy": {}}, "status": {}},
  },
  {
    name: "Deployment with zero replicas and a command",
    command: "kubectl create deployment dc --image=nginx:1.27 --replicas=0 -- sleep 3600",
    path: "/apis/apps/v1/namespaces/default/deployments",
    body: "azhzAAoVCgdhcHBzL3YxEgpEZXBsb3ltZW50EroBCh0KAmRjEgAaACIAKgAyADgAQgBaCQoDYXBwEgJkYxKKAQgAEgsKCQoDYXBwEgJkYxpxChsKABIAGgAiACoAMgA4AEIAWgkKA2FwcBICZGMSUhI0CgVuZ2lueBIKbmdpbng6MS4yNxoFc2xlZXAaBDM2MDAqAEIAagByAIABAIgBAJABAKIBABoAMgBCAEoAUgBYAGAAaACCAQCKAQCaAQDCAQAiAgoAKAA4ABoMCAAQABgAIAAoADgAGgAiAA==",
    expected: {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "dc", "creationTimestamp": null, "labels": {"app": "dc"}}, "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "dc"}}, "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "dc"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "command": ["sleep", "3600"], "resources": {}}]}}, "strategy": {}}, "status": {}},
  },
  {
    name: "Namespace",
    command: "kubectl create namespace n",
    path: "/api/v1/namespaces",
    body: "azhzAAoPCgJ2MRIJTmFtZXNwYWNlEhkKEQoBbhIAGgAiACoAMgA4AEIAEgAaAgoAGgAiAA==",
    expected: {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "n", "creationTimestamp": null}, "spec": {}, "status": {}},
  },
  {
    name: "Service",
    command: "kubectl create service clusterip sv --tcp=80:8080",
    path: "/api/v1/namespaces/default/services",
    body: "azhzAAoNCgJ2MRIHU2VydmljZRJmCh0KAnN2EgAaACIAKgAyADgAQgBaCQoDYXBwEgJzdhJBChsKBzgwLTgwODASA1RDUBhQIgcIABCQPxoAKAASCQoDYXBwEgJzdhoAIglDbHVzdGVySVA6AEIAUgBaAGAAaAAaAgoAGgAiAA==",
    expected: {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "sv", "creationTimestamp": null, "labels": {"app": "sv"}}, "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}], "selector": {"app": "sv"}, "type": "ClusterIP"}, "status": {"loadBalancer": {}}},
  },
  {
    name: "Job",
    command: "kubectl create job j --image=busybox",
    path: "/apis/batch/v1/namespaces/default/jobs",
    body: "azhzAAoPCghiYXRjaC92MRIDSm9iEngKEQoBahIAGgAiACoAMgA4AEIAElkyVwoQCgASABoAIgAqADIAOABCABJDEiAKAWoSB2J1c3lib3gqAEIAagByAIABAIgBAJABAKIBABoFTmV2ZXIyAEIASgBSAFgAYABoAIIBAIoBAJoBAMIBABoIIAAoADAAOgAaACIA",
    expected: {"kind": "Job", "apiVersion": "batch/v1", "metadata": {"name": "j", "creationTimestamp": null}, "spec": {"template": {"metadata": {"creationTimestamp": null}, "spec": {"containers": [{"name": "j", "image": "busybox", "resources": {}}], "restartPolicy": "Never"}}}, "status": {}},
  },
  {
    name: "CronJob",
    command: "kubectl create cronjob cj --image=busybox --schedule='*/5 * * * *' -- echo hi",
    path: "/apis/batch/v1/namespaces/default/cronjobs",
    body: "azhzAAoTCghiYXRjaC92MRIHQ3JvbkpvYhKoAQoSCgJjahIAGgAiACoAMgA4AEIAEo8BCgsqLzUgKiAqICogKhoAKn4KEgoCY2oSABoAIgAqADIAOABCABJoMmYKEAoAEgAaACIAKgAyADgAQgASUhIrCgJjahIHYnVzeWJveBoEZWNobxoCaGkqAEIAagByAIABAIgBAJABAKIBABoJT25GYWlsdXJlMgBCAEoAUgBYAGAAaACCAQCKAQCaAQDCAQAaABoAIgA=",
    expected: {"kind": "CronJob", "apiVersion": "batch/v1", "metadata": {"name": "cj", "creationTimestamp": null}, "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"metadata": {"name": "cj", "creationTimestamp": null}, "spec": {"template": {"metadata": {"creationTimestamp": null}, "spec": {"containers": [{"name": "cj", "image": "busybox", "command": ["echo", "hi"], "resources": {}}], "restartPolicy": "OnFailure"}}}}}, "status": {}},
  },
  {
    name: "ServiceAccount",
    command: "kubectl create serviceaccount sa",
    path: "/api/v1/namespaces/default/serviceaccounts",
    body: "azhzAAoUCgJ2MRIOU2VydmljZUFjY291bnQSFAoSCgJzYRIAGgAiACoAMgA4AEIAGgAiAA==",
    expected: {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "sa", "creationTimestamp": null}},
  },
  {
    name: "Role",
    command: "kubectl create role r --verb=get,list --resource=pods,deployments.apps",
    path: "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
    body: "azhzAAokChxyYmFjLmF1dGhvcml6YXRpb24uazhzLmlvL3YxEgRSb2xlEkgKEQoBchIAGgAiACoAMgA4AEIAEhMKA2dldAoEbGlzdBIAGgRwb2RzEh4KA2dldAoEbGlzdBIEYXBwcxoLZGVwbG95bWVudHMaACIA",
    expected: {"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "r", "creationTimestamp": null}, "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}, {"verbs": ["get", "list"], "apiGroups": ["apps"], "resources": ["deployments"]}]},
  },
  {
    name: "RoleBinding",
    command: "kubectl create rolebinding rb --role=r --user=u1 --serviceaccount=default:sa",
    path: "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
    body: "azhzAAorChxyYmFjLmF1dGhvcml6YXRpb24uazhzLmlvL3YxEgtSb2xlQmluZGluZxKEAQoSCgJyYhIAGgAiACoAMgA4AEIAEicKBFVzZXISGXJiYWMuYXV0aG9yaXphdGlvbi5rOHMuaW8aAnUxIgASHwoOU2VydmljZUFjY291bnQSABoCc2EiB2RlZmF1bHQaJAoZcmJhYy5hdXRob3JpemF0aW9uLms4cy5pbxIEUm9sZRoBchoAIgA=",
    expected: {"kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "rb", "creationTimestamp": null}, "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "u1"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "default"}], "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}},
  },
  {
    name: "ClusterRole",
    command: "kubectl create clusterrole cr --verb=get --resource=nodes --non-resource-url=/healthz",
    path: "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    body: "azhzAAorChxyYmFjLmF1dGhvcml6YXRpb24uazhzLmlvL3YxEgtDbHVzdGVyUm9sZRI1ChIKAmNyEgAaACIAKgAyADgAQgASDgoDZ2V0EgAaBW5vZGVzEg8KA2dldCoIL2hlYWx0aHoaACIA",
    expected: {"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "cr", "creationTimestamp": null}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}, {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]},
  },
  {
    name: "ClusterRoleBinding",
    command: "kubectl create clusterrolebinding crb --clusterrole=cr --group=g1",
    path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    body: "azhzAAoyChxyYmFjLmF1dGhvcml6YXRpb24uazhzLmlvL3YxEhJDbHVzdGVyUm9sZUJpbmRpbmcSbQoTCgNjcmISABoAIgAqADIAOABCABIoCgVHcm91cBIZcmJhYy5hdXRob3JpemF0aW9uLms4cy5pbxoCZzEiABosChlyYmFjLmF1dGhvcml6YXRpb24uazhzLmlvEgtDbHVzdGVyUm9sZRoCY3IaACIA",
    expected: {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "crb", "creationTimestamp": null}, "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "g1"}], "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"}},
  },
  {
    name: "ResourceQuota",
    command: "kubectl create quota q --hard=cpu=1,memory=1Gi,pods=10",
    path: "/api/v1/namespaces/default/resourcequotas",
    body: "azhzAAoTCgJ2MRINUmVzb3VyY2VRdW90YRJCChEKAXESABoAIgAqADIAOABCABIrCgoKA2NwdRIDCgExCg8KBm1lbW9yeRIFCgMxR2kKDAoEcG9kcxIECgIxMBoAGgAiAA==",
    expected: {"kind": "ResourceQuota", "apiVersion": "v1", "metadata": {"name": "q", "creationTimestamp": null}, "spec": {"hard": {"cpu": "1", "memory": "1Gi", "pods": "10"}}, "status": {}},
  },
  {
    name: "PodDisruptionBudget",
    command: "kubectl create pdb pdb --selector=app=p --min-available=50%",
    path: "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
    body: "azhzAAogCglwb2xpY3kvdjESE1BvZERpc3J1cHRpb25CdWRnZXQSOgoTCgNwZGISABoAIgAqADIAOABCABIXCgkIARAAGgM1MCUSCgoICgNhcHASAXAaCggAGAAgACgAMAAaACIA",
    expected: {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1", "metadata": {"name": "pdb", "creationTimestamp": null}, "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "p"}}}, "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}},
  },
  {
    name: "PriorityClass",
    command: "kubectl create priorityclass pc --value=1000 --description=x",
    path: "/apis/scheduling.k8s.io/v1/priorityclasses",
    body: "azhzAAolChRzY2hlZHVsaW5nLms4cy5pby92MRINUHJpb3JpdHlDbGFzcxIyChIKAnBjEgAaACIAKgAyADgAQgAQ6AcYACIBeCoUUHJlZW1wdExvd2VyUHJpb3JpdHkaACIA",
    expected: {"kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1", "metadata": {"name": "pc", "creationTimestamp": null}, "value": 1000, "description": "x", "preemptionPolicy": "PreemptLowerPriority"},
  },
  {
    name: "Ingress",
    command: "kubectl create ingress ing --rule=foo.com/bar=svc1:8080",
    path: "/apis/networking.k8s.io/v1/namespaces/default/ingresses",
    body: "azhzAAofChRuZXR3b3JraW5nLms4cy5pby92MRIHSW5ncmVzcxJKChMKA2luZxIAGgAiACoAMgA4AEIAEi8aLQoHZm9vLmNvbRIiCiAKHgoEL2JhchIPIg0KBHN2YzESBQoAEJA/GgVFeGFjdBoCCgAaACIA",
    expected: {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "metadata": {"name": "ing", "creationTimestamp": null}, "spec": {"rules": [{"host": "foo.com", "http": {"paths": [{"path": "/bar", "pathType": "Exact", "backend": {"service": {"name": "svc1", "port": {"number": 8080}}}}]}}]}, "status": {"loadBalancer": {}}},
  },
  {
    name: "SelfSubjectAccessReview",
    command: "kubectl auth can-i create pods",
    path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    body: "azhzAAoyChdhdXRob3JpemF0aW9uLms4cy5pby92MRIXU2VsZlN1YmplY3RBY2Nlc3NSZXZpZXcSPwoQCgASABoAIgAqADIAOABCABIhCh8KB2RlZmF1bHQSBmNyZWF0ZRoAIgAqBHBvZHMyADoAGggIABIAGgAgABoAIgA=",
    expected: {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}}, "status": {"allowed": false}},
    expectedNote: 'kubectl cannot dry-run this command; Kubernetes JSON form from the Go types (nil slices and pointers are null)',
  },
  {
    name: "SelfSubjectAccessReview with a subresource",
    command: "kubectl auth can-i get pods/log --subresource=log -n kube-system",
    path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    body: "azhzAAoyChdhdXRob3JpemF0aW9uLms4cy5pby92MRIXU2VsZlN1YmplY3RBY2Nlc3NSZXZpZXcSRgoQCgASABoAIgAqADIAOABCABIoCiYKC2t1YmUtc3lzdGVtEgNnZXQaACIAKgRwb2RzMgNsb2c6A2xvZxoICAASABoAIAAaACIA",
    expected: {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": {"resourceAttributes": {"namespace": "kube-system", "verb": "get", "resource": "pods", "subresource": "log", "name": "log"}}, "status": {"allowed": false}},
    expectedNote: 'kubectl cannot dry-run this command; Kubernetes JSON form from the Go types (nil slices and pointers are null)',
  },
  {
    name: "SelfSubjectAccessReview of a URL",
    command: "kubectl auth can-i get /healthz",
    path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    body: "azhzAAoyChdhdXRob3JpemF0aW9uLms4cy5pby92MRIXU2VsZlN1YmplY3RBY2Nlc3NSZXZpZXcSLwoQCgASABoAIgAqADIAOABCABIREg8KCC9oZWFsdGh6EgNnZXQaCAgAEgAaACAAGgAiAA==",
    expected: {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}, "status": {"allowed": false}},
    expectedNote: 'kubectl cannot dry-run this command; Kubernetes JSON form from the Go types (nil slices and pointers are null)',
  },
  {
    name: "SelfSubjectAccessReview in all namespaces",
    command: "kubectl auth can-i list deployments.apps -A",
    path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    body: "azhzAAoyChdhdXRob3JpemF0aW9uLms4cy5pby92MRIXU2VsZlN1YmplY3RBY2Nlc3NSZXZpZXcSQQoQCgASABoAIgAqADIAOABCABIjCiEKABIEbGlzdBoEYXBwcyIAKgtkZXBsb3ltZW50czIAOgAaCAgAEgAaACAAGgAiAA==",
    expected: {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": {"resourceAttributes": {"verb": "list", "group": "apps", "resource": "deployments"}}, "status": {"allowed": false}},
    expectedNote: 'kubectl cannot dry-run this command; Kubernetes JSON form from the Go types (nil slices and pointers are null)',
  },
  {
    name: "SelfSubjectAccessReview of a named object",
    command: "kubectl auth can-i delete secret/s1",
    path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    body: "azhzAAoyChdhdXRob3JpemF0aW9uLms4cy5pby92MRIXU2VsZlN1YmplY3RBY2Nlc3NSZXZpZXcSRAoQCgASABoAIgAqADIAOABCABImCiQKB2RlZmF1bHQSBmRlbGV0ZRoAIgAqB3NlY3JldHMyADoCczEaCAgAEgAaACAAGgAiAA==",
    expected: {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": {"resourceAttributes": {"namespace": "default", "verb": "delete", "resource": "secrets", "name": "s1"}}, "status": {"allowed": false}},
    expectedNote: 'kubectl cannot dry-run this command; Kubernetes JSON form from the Go types (nil slices and pointers are null)',
  },
  {
    name: "SelfSubjectRulesReview",
    command: "kubectl auth can-i --list",
    path: "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
    body: "azhzAAoxChdhdXRob3JpemF0aW9uLms4cy5pby92MRIWU2VsZlN1YmplY3RSdWxlc1JldmlldxIjChAKABIAGgAiACoAMgA4AEIAEgkKB2RlZmF1bHQaBBgAIgAaACIA",
    expected: {"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": {"namespace": "default"}, "status": {"resourceRules": null, "nonResourceRules": null, "incomplete": false}},
    expectedNote: 'kubectl cannot dry-run this command; Kubernetes JSON form from the Go types (nil slices and pointers are null)',
  },
  {
    name: "TokenRequest",
    command: "kubectl create token sa --duration=1h",
    path: "/api/v1/namespaces/default/serviceaccounts/sa/token",
    body: "azhzAAooChhhdXRoZW50aWNhdGlvbi5rOHMuaW8vdjESDFRva2VuUmVxdWVzdBIdChAKABIAGgAiACoAMgA4AEIAEgMgkBwaBAoAEgAaACIA",
    expected: {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": {"audiences": null, "expirationSeconds": 3600, "boundObjectRef": null}, "status": {"token": "", "expirationTimestamp": null}},
    expectedNote: 'kubectl cannot dry-run this command; Kubernetes JSON form from the Go types (nil slices and pointers are null)',
  },
];
