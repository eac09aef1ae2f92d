package aws

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// iamPrefix maps each seam field name to its service's IAM prefix.
var iamPrefix = map[string]string{"rds": "rds", "secrets": "secretsmanager", "s3": "s3", "sts": "sts"}

// s3Actions maps S3 operations to their IAM action where the two differ.
var s3Actions = map[string]string{"ListObjectsV2": "ListBucket"}

// sdkHelpers maps the SDK waiters and paginators the package builds on a seam to the
// operation they call.
var sdkHelpers = map[string]string{
	"NewDBClusterAvailableWaiter":            "DescribeDBClusters",
	"NewDBInstanceAvailableWaiter":           "DescribeDBInstances",
	"NewDescribeDBClustersPaginator":         "DescribeDBClusters",
	"NewDescribeDBClusterSnapshotsPaginator": "DescribeDBClusterSnapshots",
	"NewListSecretsPaginator":                "ListSecrets",
	"NewListObjectsV2Paginator":              "ListObjectsV2",
}

// implied are actions no seam method calls but AWS checks on the caller's behalf, for each
// process that makes the call implying them.
var implied = map[string]map[string]string{
	"bot": {
		"kms:CreateGrant":             "RDS encrypts with a customer managed key as the caller",
		"kms:DescribeKey":             "RDS encrypts with a customer managed key as the caller",
		"rds:CreateDBClusterSnapshot": "DeleteDBCluster with a final snapshot (final_snapshot: true)",
		"kms:GenerateDataKey":         "Secrets Manager encrypts a secret value with the configured key as the caller",
		"kms:Decrypt":                 "Secrets Manager decrypts a secret value with the configured key as the caller",
	},
	"agent": {
		"kms:Decrypt": "Secrets Manager decrypts a secret value with the configured key as the caller",
	},
}

// policyFiles are the IAM policies in deploy/, one per process (and Kubernetes service account).
var policyFiles = map[string]string{"bot": "../../deploy/iam-policy-bot.json", "agent": "../../deploy/iam-policy-agent.json"}

// seamTypes maps each seam interface to its service's IAM prefix.
var seamTypes = map[string]string{"rdsAPI": "rds", "secretsAPI": "secretsmanager", "s3API": "s3", "stsAPI": "sts"}

// funcCalls is what one function of the package calls: IAM actions through its seams, and
// the package's other functions and methods, by bare name.
type funcCalls struct {
	actions map[string]bool
	callees map[string]bool
}

// parseDir parses the non-test Go files of dir.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// packageCalls returns, for every function ("Name") and method ("Recv.Name") of the
// package, what it calls.
func packageCalls(t *testing.T) map[string]funcCalls {
	t.Helper()
	out := map[string]funcCalls{}
	for _, f := range parseDir(t, ".") {
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Body != nil {
				out[funcKey(fn)] = callsOf(fn)
			}
		}
	}
	return out
}

func funcKey(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	typ := fn.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}

// callsOf returns the actions fn calls on a seam (a field such as p.rds.X or c.s3.X, a
// parameter of a seam type, or an SDK waiter or paginator built on either) and the names
// of everything else it calls.
func callsOf(fn *ast.FuncDecl) funcCalls {
	out := funcCalls{actions: map[string]bool{}, callees: map[string]bool{}}
	params := map[string]string{} // parameter name → IAM prefix
	for _, field := range fn.Type.Params.List {
		if id, ok := field.Type.(*ast.Ident); ok && seamTypes[id.Name] != "" {
			for _, n := range field.Names {
				params[n.Name] = seamTypes[id.Name]
			}
		}
	}
	seam := func(e ast.Expr) string {
		switch e := e.(type) {
		case *ast.SelectorExpr:
			return iamPrefix[e.Sel.Name]
		case *ast.Ident:
			return params[e.Name]
		}
		return ""
	}
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		var method, prefix string
		switch f := call.Fun.(type) {
		case *ast.Ident:
			out.callees[f.Name] = true
			return true
		case *ast.SelectorExpr:
			method, prefix = f.Sel.Name, seam(f.X)
		default:
			return true
		}
		if op, ok := sdkHelpers[method]; ok && len(call.Args) > 0 {
			method, prefix = op, seam(call.Args[0])
		}
		if prefix == "" {
			out.callees[method] = true
			return true
		}
		if prefix == "s3" && s3Actions[method] != "" {
			method = s3Actions[method]
		}
		out.actions[prefix+":"+method] = true
		return true
	})
	return out
}

// reachableActions returns the actions called by the entry functions and by everything
// they call in this package. A callee named by a bare method name counts every method of
// that name, so the answer may be larger than the truth, never smaller.
func reachableActions(calls map[string]funcCalls, entries ...string) map[string]bool {
	byName := map[string][]string{} // bare name → keys
	for key := range calls {
		name := key[strings.LastIndex(key, ".")+1:]
		byName[name] = append(byName[name], key)
	}
	seen, out := map[string]bool{}, map[string]bool{}
	var visit func(key string)
	visit = func(key string) {
		if seen[key] {
			return
		}
		seen[key] = true
		for a := range calls[key].actions {
			out[a] = true
		}
		for callee := range calls[key].callees {
			for _, k := range byName[callee] {
				visit(k)
			}
		}
	}
	for _, e := range entries {
		visit(e)
	}
	return out
}

// interfaceMethods returns the method names of the interface called name in the non-test
// Go files of dir.
func interfaceMethods(t *testing.T, dir, name string) []string {
	t.Helper()
	var out []string
	for _, f := range parseDir(t, dir) {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || ts.Name.Name != name {
				return true
			}
			if it, ok := ts.Type.(*ast.InterfaceType); ok {
				for _, m := range it.Methods.List {
					for _, id := range m.Names {
						out = append(out, id.Name)
					}
				}
			}
			return false
		})
	}
	if len(out) == 0 {
		t.Fatalf("no interface %s with methods in %s", name, dir)
	}
	return out
}

// processActions returns the IAM actions of each process. The bot (serve) drives the whole
// backend: Provisioner, Catalogue, Sweep. The agent only resolves credential references
// (this package's provisioner.SecretStore) and reads backups through agent.ObjectGetter,
// its own S3 seam.
func processActions(t *testing.T) map[string]map[string]bool {
	t.Helper()
	calls := packageCalls(t)
	bot := map[string]bool{}
	for key := range calls {
		for a := range calls[key].actions {
			bot[a] = true
		}
	}
	var entries []string
	for _, m := range interfaceMethods(t, "..", "SecretStore") {
		entries = append(entries, "SecretStore."+m)
	}
	agent := reachableActions(calls, entries...)
	for _, m := range interfaceMethods(t, "../../agent", "ObjectGetter") {
		agent["s3:"+m] = true
	}
	return map[string]map[string]bool{"bot": bot, "agent": agent}
}

type policy struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Action    []string
		Resource  any
		Condition map[string]map[string]string
	}
}

func readPolicy(t *testing.T, path string) policy {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p policy
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// Each process's policy allows exactly the calls that process makes, plus what those calls
// imply: the agent cannot create or delete clusters, the bot needs no S3 object beyond the
// catalogue's.
func TestIAMPoliciesMatchCalls(t *testing.T) {
	actions := processActions(t)
	if n := len(actions["bot"]); n < 18 {
		t.Fatalf("found only %d bot calls in the source: %v", n, actions["bot"])
	}
	if want := map[string]bool{"secretsmanager:GetSecretValue": true, "s3:GetObject": true}; !maps.Equal(actions["agent"], want) {
		t.Fatalf("agent calls %v, want %v (a new call needs the agent's policy, and this line, changed)", actions["agent"], want)
	}
	for _, process := range slices.Sorted(maps.Keys(policyFiles)) {
		t.Run(process, func(t *testing.T) {
			p := readPolicy(t, policyFiles[process])
			called, imp := actions[process], implied[process]
			allowed := map[string]bool{}
			for _, s := range p.Statement {
				if s.Effect != "Allow" {
					t.Errorf("statement %s: effect %s", s.Sid, s.Effect)
				}
				for _, a := range s.Action {
					allowed[a] = true
					if _, ok := imp[a]; ok != strings.HasPrefix(s.Sid, "Implied") {
						t.Errorf("%s is in statement %s; implied actions, and only they, go in Implied* statements", a, s.Sid)
					}
				}
			}
			for a := range called {
				if !allowed[a] {
					t.Errorf("the %s calls %s but its policy does not allow it", process, a)
				}
			}
			for a := range allowed {
				if !called[a] && imp[a] == "" {
					t.Errorf("the %s policy allows %s but the %s never calls it", process, a, process)
				}
			}
		})
	}
}

// Every action on an existing clone's RDS resources is scoped by its managed-by tag, and
// every creation by the tags of the request; final snapshots by their names; secrets by
// their name (a tag condition would answer AccessDenied instead of NotFound for a secret
// already deleted, which would break idempotent Destroy); S3 by the backup bucket.
func TestIAMPoliciesScopeWrites(t *testing.T) {
	write := regexp.MustCompile(`^rds:(Create|Restore|Modify|Delete|AddTags)`)
	for _, process := range slices.Sorted(maps.Keys(policyFiles)) {
		t.Run(process, func(t *testing.T) {
			p := readPolicy(t, policyFiles[process])
			for _, s := range p.Statement {
				for _, a := range s.Action {
					switch {
					case a == "rds:CreateDBClusterSnapshot" || a == "rds:DeleteDBClusterSnapshot":
						if !slices.Contains(toList(s.Resource), "arn:aws:rds:*:*:cluster-snapshot:clonebot-*-final") {
							t.Errorf("%s is not scoped to final snapshot names: %v", a, s.Resource)
						}
					case write.MatchString(a):
						tag := s.Condition["StringEquals"]["aws:RequestTag/managed-by"] + s.Condition["StringEquals"]["aws:ResourceTag/managed-by"]
						if tag != ManagedBy {
							t.Errorf("%s (statement %s) is not scoped by the managed-by tag", a, s.Sid)
						}
					case strings.HasPrefix(a, "secretsmanager:") && a != "secretsmanager:ListSecrets":
						if !slices.Equal(toList(s.Resource), []string{"arn:aws:secretsmanager:*:*:secret:clonebot/*"}) {
							t.Errorf("%s (statement %s) is not scoped to clonebot/ secrets: %v", a, s.Sid, s.Resource)
						}
					case strings.HasPrefix(a, "s3:"):
						for _, r := range toList(s.Resource) {
							if !strings.HasPrefix(r, "arn:aws:s3:::CLONEBOT_BACKUP_BUCKET") {
								t.Errorf("%s (statement %s) reaches beyond the backup bucket: %s", a, s.Sid, r)
							}
						}
					case strings.HasPrefix(a, "kms:"):
						if !strings.HasSuffix(s.Condition["StringLike"]["kms:ViaService"], ".amazonaws.com") {
							t.Errorf("%s (statement %s) is not limited to use through a service", a, s.Sid)
						}
					}
				}
			}
		})
	}
}

func toList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, s := range v {
			out = append(out, s.(string))
		}
		return out
	}
	return nil
}
