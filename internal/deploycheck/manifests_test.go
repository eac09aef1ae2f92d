package deploycheck

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/approvals"
)

const (
	kubernetesDir = "../../deploy/kubernetes"
	namespace     = "clonebot"
	configMap     = "clonebot-config"
)

// object is one object of a built overlay, decoded into its Kubernetes API type.
type object struct {
	kind, name, namespace string
	obj                   any
}

// newTyped returns an empty value of the API type of apiVersion and kind; nil for a kind
// clonebot does not ship (which the check refuses).
func newTyped(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	}
	return nil
}

// overlays lists the directories under deploy/kubernetes/overlays.
func overlays(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(kubernetesDir, "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if !slices.Contains(out, "aws") || !slices.Contains(out, "local") {
		t.Fatalf("overlays %v, want at least aws and local", out)
	}
	return out
}

// build runs `kubectl kustomize` on an overlay and decodes every object strictly: an unknown
// or duplicated field, a wrong type or an unknown kind fails the test.
func build(t *testing.T, overlay string) []object {
	t.Helper()
	cmd := exec.Command("kubectl", "kustomize", filepath.Join(kubernetesDir, "overlays", overlay))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", overlay, err, stderr.String())
	}
	var objs []object
	for i, doc := range bytes.Split(out, []byte("\n---\n")) {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := sigsyaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: document %d: %v", overlay, i, err)
		}
		typed := newTyped(meta.APIVersion, meta.Kind)
		if typed == nil {
			t.Errorf("%s: %s %s %s: not a kind clonebot ships (add it to newTyped and its checks)", overlay, meta.APIVersion, meta.Kind, meta.Metadata.Name)
			continue
		}
		if err := sigsyaml.UnmarshalStrict(doc, typed); err != nil {
			t.Errorf("%s: %s %s does not decode strictly: %v", overlay, meta.Kind, meta.Metadata.Name, err)
			continue
		}
		objs = append(objs, object{kind: meta.Kind, name: meta.Metadata.Name, namespace: meta.Metadata.Namespace, obj: typed})
	}
	return objs
}

// workload is a pod template of a built overlay.
type workload struct {
	kind, name string
	labels     map[string]string
	pod        corev1.PodSpec
	claims     []string // a StatefulSet's volume claim templates
}

func workloads(objs []object) []workload {
	var out []workload
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{o.kind, o.name, v.Spec.Template.Labels, v.Spec.Template.Spec, nil})
		case *appsv1.DaemonSet:
			out = append(out, workload{o.kind, o.name, v.Spec.Template.Labels, v.Spec.Template.Spec, nil})
		case *appsv1.StatefulSet:
			w := workload{o.kind, o.name, v.Spec.Template.Labels, v.Spec.Template.Spec, nil}
			for _, c := range v.Spec.VolumeClaimTemplates {
				w.claims = append(w.claims, c.Name)
			}
			out = append(out, w)
		}
	}
	return out
}

func find[T any](objs []object, name string) (T, bool) {
	for _, o := range objs {
		if v, ok := o.obj.(T); ok && (name == "" || o.name == name || strings.HasPrefix(o.name, name+"-")) {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// TestManifests is make deploy-check: every overlay builds and decodes, and what it builds
// would be admitted by a namespace enforcing Pod Security "restricted" and would start.
func TestManifests(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatal("kubectl is needed to build the overlays (kubectl kustomize): install it")
	}
	for _, overlay := range overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			objs := build(t, overlay)
			if len(objs) < 10 {
				t.Fatalf("%s built only %d objects", overlay, len(objs))
			}
			checkNamespace(t, objs)
			ws := workloads(objs)
			components := map[string]bool{}
			for _, w := range ws {
				components[w.labels["app.kubernetes.io/component"]] = true
				t.Run(w.kind+"/"+w.name, func(t *testing.T) {
					checkRestricted(t, w.pod)
					checkContainers(t, w)
					checkReferences(t, objs, w)
				})
			}
			if !components["bot"] || !components["agent"] {
				t.Errorf("workloads %v: want a bot and an agent", components)
			}
			checkIdentities(t, overlay, objs, ws)
			checkDisruptionAndNetwork(t, objs, ws)
			checkConfigMap(t, objs)
		})
	}
}

func checkNamespace(t *testing.T, objs []object) {
	t.Helper()
	ns, ok := find[*corev1.Namespace](objs, namespace)
	if !ok {
		t.Fatalf("no Namespace %s", namespace)
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s does not enforce Pod Security restricted: %v", namespace, ns.Labels)
	}
	for _, o := range objs {
		if o.kind != "Namespace" && o.namespace != namespace {
			t.Errorf("%s %s is in namespace %q, want %s", o.kind, o.name, o.namespace, namespace)
		}
	}
}

// checkRestricted checks the fields of the Pod Security Standards' "restricted" profile.
func checkRestricted(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("host namespaces are shared")
	}
	allowedVolume := func(v corev1.Volume) bool {
		s := v.VolumeSource
		return s.ConfigMap != nil || s.CSI != nil || s.DownwardAPI != nil || s.EmptyDir != nil ||
			s.Ephemeral != nil || s.PersistentVolumeClaim != nil || s.Projected != nil || s.Secret != nil
	}
	for _, v := range pod.Volumes {
		if !allowedVolume(v) {
			t.Errorf("volume %s is of a type restricted refuses", v.Name)
		}
	}
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if len(psc.Sysctls) > 0 {
		t.Errorf("sysctls %v", psc.Sysctls)
	}
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("container %s has no securityContext", c.Name)
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s is privileged", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation must be false", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("container %s: capabilities must drop ALL", c.Name)
		} else if slices.ContainsFunc(sc.Capabilities.Add, func(c corev1.Capability) bool { return c != "NET_BIND_SERVICE" }) {
			t.Errorf("container %s adds capabilities %v", c.Name, sc.Capabilities.Add)
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if !nonRoot {
			t.Errorf("container %s: runAsNonRoot must be true", c.Name)
		}
		if (sc.RunAsUser != nil && *sc.RunAsUser == 0) || (sc.RunAsUser == nil && psc.RunAsUser != nil && *psc.RunAsUser == 0) {
			t.Errorf("container %s runs as uid 0", c.Name)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
			t.Errorf("container %s: seccompProfile must be RuntimeDefault or Localhost", c.Name)
		}
		if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
			t.Errorf("container %s: procMount %s", c.Name, *sc.ProcMount)
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				t.Errorf("container %s uses host port %d", c.Name, p.HostPort)
			}
		}
	}
}

// pinnedImage is a reference with a tag other than latest, or a digest.
var pinnedImage = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$|^[a-z0-9._-]+(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$`)

// checkImage refuses :latest, an untagged image and the base's placeholder name.
func checkImage(image string) error {
	if !pinnedImage.MatchString(image) {
		return fmt.Errorf("image %q is not a valid reference", image)
	}
	name, digest, _ := strings.Cut(image, "@")
	slash := strings.LastIndex(name, "/")
	colon := strings.LastIndex(name, ":")
	tag := ""
	if colon > slash {
		tag = name[colon+1:]
	}
	switch {
	case tag == "latest":
		return fmt.Errorf("image %q uses the latest tag", image)
	case tag == "" && digest == "":
		return fmt.Errorf("image %q has neither a tag nor a digest", image)
	}
	return nil
}

func TestCheckImage(t *testing.T) {
	tests := []struct {
		image string
		ok    bool
	}{
		{"ghcr.io/clonebot/clonebot:0.1.0", true},
		{"redis:7.2.5", true},
		{"gcr.io/distroless/static-debian12@sha256:" + strings.Repeat("a", 64), true},
		{"localhost:5000/clonebot:1", true},
		{"ghcr.io/clonebot/clonebot:latest", false},
		{"ghcr.io/clonebot/clonebot", false},
		{"clonebot", false},
		{"localhost:5000/clonebot", false},
		{"Redis:7", false},
	}
	for _, tt := range tests {
		if err := checkImage(tt.image); (err == nil) != tt.ok {
			t.Errorf("checkImage(%q) = %v, want ok %v", tt.image, err, tt.ok)
		}
	}
}

// checkContainers checks images, resources, probes and the metrics port.
func checkContainers(t *testing.T, w workload) {
	t.Helper()
	for _, c := range w.pod.Containers {
		if err := checkImage(c.Image); err != nil {
			t.Errorf("container %s: %v", c.Name, err)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("container %s requests no %s", c.Name, r)
			}
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
			if _, ok := c.Resources.Limits[r]; !ok {
				t.Errorf("container %s has no %s limit", c.Name, r)
			}
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("container %s lacks a liveness or readiness probe", c.Name)
		}
		component := w.labels["app.kubernetes.io/component"]
		if component != "bot" && component != "agent" {
			continue
		}
		port := int32(9090) // the bot's metrics_addr
		if component == "agent" {
			port = 9091 // agent.metrics_addr
		}
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == port }) {
			t.Errorf("container %s has no metrics port %d", c.Name, port)
		}
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "metrics" {
				t.Errorf("container %s: probes must ask /healthz and /readyz on the metrics port", c.Name)
			}
		}
		if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("container %s: readiness probe asks %s", c.Name, c.ReadinessProbe.HTTPGet.Path)
		}
	}
}

// checkReferences checks that what a pod names (ServiceAccount, ConfigMap, claim) is built
// with it, and that every volume it mounts exists.
func checkReferences(t *testing.T, objs []object, w workload) {
	t.Helper()
	names := map[string]map[string]bool{}
	for _, o := range objs {
		if names[o.kind] == nil {
			names[o.kind] = map[string]bool{}
		}
		names[o.kind][o.name] = true
	}
	if sa := w.pod.ServiceAccountName; sa != "" && !names["ServiceAccount"][sa] {
		t.Errorf("service account %s is not built", sa)
	}
	volumes := map[string]bool{}
	for _, c := range w.claims {
		volumes[c] = true
	}
	for _, v := range w.pod.Volumes {
		volumes[v.Name] = true
		if v.ConfigMap != nil && !names["ConfigMap"][v.ConfigMap.Name] {
			t.Errorf("volume %s: ConfigMap %s is not built", v.Name, v.ConfigMap.Name)
		}
		if v.PersistentVolumeClaim != nil && !names["PersistentVolumeClaim"][v.PersistentVolumeClaim.ClaimName] {
			t.Errorf("volume %s: claim %s is not built", v.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}
	for _, c := range w.pod.Containers {
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("container %s mounts %s, which is not a volume of the pod", c.Name, m.Name)
			}
		}
	}
}

// checkIdentities: the bot and the agents run as different ServiceAccounts, and on AWS each
// names its own IAM role.
func checkIdentities(t *testing.T, overlay string, objs []object, ws []workload) {
	t.Helper()
	sa := map[string]string{}
	for _, w := range ws {
		sa[w.labels["app.kubernetes.io/component"]] = w.pod.ServiceAccountName
	}
	if sa["bot"] == "" || sa["bot"] == sa["agent"] {
		t.Errorf("service accounts %v: the bot and the agents need one each", sa)
	}
	if !strings.HasPrefix(overlay, "aws") {
		return
	}
	roles := map[string]bool{}
	for _, component := range []string{"bot", "agent"} {
		acct, _ := find[*corev1.ServiceAccount](objs, sa[component])
		role := ""
		if acct != nil {
			role = acct.Annotations["eks.amazonaws.com/role-arn"]
		}
		if !strings.HasPrefix(role, "arn:aws:iam::") || roles[role] {
			t.Errorf("%s: service account %s has IRSA role %q, want a role of its own", component, sa[component], role)
		}
		roles[role] = true
	}
}

func selects(sel map[string]string, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkDisruptionAndNetwork: every Deployment has a PodDisruptionBudget, every workload is
// let out by a NetworkPolicy of its own, and everything else is denied.
func checkDisruptionAndNetwork(t *testing.T, objs []object, ws []workload) {
	t.Helper()
	var pdbs []*policyv1.PodDisruptionBudget
	var netpols []*networkingv1.NetworkPolicy
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *policyv1.PodDisruptionBudget:
			pdbs = append(pdbs, v)
		case *networkingv1.NetworkPolicy:
			netpols = append(netpols, v)
		}
	}
	denyAll := slices.ContainsFunc(netpols, func(n *networkingv1.NetworkPolicy) bool {
		return len(n.Spec.PodSelector.MatchLabels) == 0 && len(n.Spec.Ingress) == 0 && len(n.Spec.Egress) == 0 && len(n.Spec.PolicyTypes) == 2
	})
	if !denyAll {
		t.Error("no default-deny NetworkPolicy")
	}
	for _, w := range ws {
		if w.kind == "Deployment" && !slices.ContainsFunc(pdbs, func(p *policyv1.PodDisruptionBudget) bool {
			return p.Spec.Selector != nil && selects(p.Spec.Selector.MatchLabels, w.labels)
		}) {
			t.Errorf("%s %s has no PodDisruptionBudget", w.kind, w.name)
		}
		if !slices.ContainsFunc(netpols, func(n *networkingv1.NetworkPolicy) bool {
			return len(n.Spec.PodSelector.MatchLabels) > 0 && selects(n.Spec.PodSelector.MatchLabels, w.labels)
		}) {
			t.Errorf("%s %s has no NetworkPolicy of its own", w.kind, w.name)
		}
	}
}

// checkConfigMap: the config, policy and masking files are there and parse, the config
// names the other two, and the rules define every masking level the policy's tiers use.
func checkConfigMap(t *testing.T, objs []object) {
	t.Helper()
	cm, ok := find[*corev1.ConfigMap](objs, configMap)
	if !ok {
		t.Fatalf("no ConfigMap %s", configMap)
	}
	var cfg struct {
		Policy  string `yaml:"policy"`
		Masking struct {
			Rules string `yaml:"rules"`
		} `yaml:"masking"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["clonebot.yaml"]), &cfg); err != nil {
		t.Fatalf("clonebot.yaml: %v", err)
	}
	p, err := approvals.ParsePolicyFile(cfg.Policy, []byte(cm.Data[cfg.Policy]))
	if err != nil {
		t.Fatalf("the policy the config names: %v", err)
	}
	rules, err := mask.ParseRulesFile(cfg.Masking.Rules, []byte(cm.Data[cfg.Masking.Rules]))
	if err != nil {
		t.Fatalf("the masking rules the config names: %v", err)
	}
	if err := app.CheckRules(rules, cfg.Masking.Rules, p); err != nil {
		t.Errorf("the policy and the masking rules, as serve and agent check them at start: %v", err)
	}
}

// TestConfigCopiesMatchTheExamples: Kustomize reads only files under a kustomization, so the
// base carries copies of deploy/*.example.yaml and overlays/aws variants of two of them; they
// may differ from the examples only where they must.
func TestConfigCopiesMatchTheExamples(t *testing.T) {
	tests := []struct {
		name, example, copy string
		drop                []string // top-level keys that may differ
	}{
		{"policy", "policy.example.yaml", "base/config/policy.yaml", nil},
		{"masking", "masking.example.yaml", "base/config/masking.yaml", nil},
		{"config", "clonebot.example.yaml", "base/config/clonebot.yaml", []string{"policy", "masking"}},
		{"aws policy", "policy.example.yaml", "overlays/aws/policy.yaml", []string{"sources"}},
		{"aws config", "clonebot.example.yaml", "overlays/aws/clonebot.yaml", []string{"policy", "masking", "local", "aws"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := func(path string) map[string]any {
				t.Helper()
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				if err := yaml.Unmarshal(raw, &m); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				for _, k := range tt.drop {
					delete(m, k)
				}
				return m
			}
			example, copied := read(filepath.Join("../../deploy", tt.example)), read(filepath.Join(kubernetesDir, tt.copy))
			if !reflect.DeepEqual(example, copied) {
				t.Errorf("deploy/kubernetes/%s differs from deploy/%s beyond %v: copy the change over", tt.copy, tt.example, tt.drop)
			}
		})
	}
}

// TestBinaryHasNoKubernetesImports: the API types are for these tests only.
func TestBinaryHasNoKubernetesImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../cmd/clonebot").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "k8s.io/") || strings.HasPrefix(pkg, "sigs.k8s.io/") {
			t.Errorf("the clonebot binary imports %s", pkg)
		}
	}
}

// TestAgentDaemonSetRunsTheDeploymentsPod: the DaemonSet variant runs the same agent pod as
// the Deployment (but for the anti-affinity that one agent per node makes moot).
func TestAgentDaemonSetRunsTheDeploymentsPod(t *testing.T) {
	dep, ok := find[*appsv1.Deployment](build(t, "aws"), "clonebot-agent")
	if !ok {
		t.Fatal("overlays/aws has no agent Deployment")
	}
	objs := build(t, "aws-daemonset")
	ds, ok := find[*appsv1.DaemonSet](objs, "clonebot-agent")
	if !ok {
		t.Fatal("overlays/aws-daemonset has no agent DaemonSet")
	}
	if _, ok := find[*appsv1.Deployment](objs, "clonebot-agent"); ok {
		t.Error("overlays/aws-daemonset still has the agent Deployment")
	}
	want := dep.Spec.Template.DeepCopy()
	want.Spec.Affinity = nil
	if !reflect.DeepEqual(ds.Spec.Template, *want) {
		t.Errorf("the DaemonSet's pod differs from the Deployment's:\n%+v\nwant\n%+v", ds.Spec.Template, *want)
	}
}
