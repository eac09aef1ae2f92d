package aws

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
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

// implied are actions no seam method calls but AWS checks on the caller's behalf.
var implied = map[string]string{
	"kms:CreateGrant":             "RDS encrypts with a customer managed key as the caller",
	"kms:DescribeKey":             "RDS encrypts with a customer managed key as the caller",
	"rds:CreateDBClusterSnapshot": "DeleteDBCluster with a final snapshot (final_snapshot: true)",
}

// seamTypes maps each seam interface to its service's IAM prefix.
var seamTypes = map[string]string{"rdsAPI": "rds", "secretsAPI": "secretsmanager", "s3API": "s3", "stsAPI": "sts"}

// calledActions parses the package's non-test Go files and returns the IAM actions of
// every method called on a seam: a field (p.rds.X, c.s3.X), a parameter of a seam type, or
// an SDK waiter or paginator built on either.
func calledActions(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Body != nil {
				addCalls(out, fn)
			}
		}
	}
	return out
}

// addCalls adds the actions fn calls on its seams to out.
func addCalls(out map[string]bool, fn *ast.FuncDecl) {
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
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		method, prefix := sel.Sel.Name, seam(sel.X)
		if op, ok := sdkHelpers[method]; ok && len(call.Args) > 0 {
			method, prefix = op, seam(call.Args[0])
		}
		if prefix == "" {
			return true
		}
		if prefix == "s3" && s3Actions[method] != "" {
			method = s3Actions[method]
		}
		out[prefix+":"+method] = true
		return true
	})
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

func readPolicy(t *testing.T) policy {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/iam-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var p policy
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIAMPolicyMatchesCalls(t *testing.T) {
	p := readPolicy(t)
	called := calledActions(t)
	if len(called) < 15 {
		t.Fatalf("found only %d calls in the source: %v", len(called), called)
	}
	allowed := map[string]bool{}
	for _, s := range p.Statement {
		if s.Effect != "Allow" {
			t.Errorf("statement %s: effect %s", s.Sid, s.Effect)
		}
		for _, a := range s.Action {
			allowed[a] = true
			if _, ok := implied[a]; ok != strings.HasPrefix(s.Sid, "Implied") {
				t.Errorf("%s is in statement %s; implied actions, and only they, go in Implied* statements", a, s.Sid)
			}
		}
	}
	for a := range called {
		if !allowed[a] {
			t.Errorf("the code calls %s but the policy does not allow it", a)
		}
	}
	for a := range allowed {
		if !called[a] && implied[a] == "" {
			t.Errorf("the policy allows %s but the code never calls it", a)
		}
	}
}

// Every action on an existing clone's RDS resources is scoped by its managed-by tag, and
// every creation by the tags of the request; secrets are scoped by their name (a tag
// condition would answer AccessDenied instead of NotFound for a secret already deleted,
// which would break idempotent Destroy).
func TestIAMPolicyScopesWrites(t *testing.T) {
	p := readPolicy(t)
	write := regexp.MustCompile(`^rds:(Create|Restore|Modify|Delete|AddTags)`)
	for _, s := range p.Statement {
		for _, a := range s.Action {
			switch {
			case a == "rds:CreateDBClusterSnapshot":
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
			}
		}
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
