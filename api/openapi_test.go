package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
	Comps   struct {
		Schemas struct {
			Problem struct {
				Properties struct {
					Type struct {
						Enum []string `json:"enum"`
					} `json:"type"`
				} `json:"properties"`
			} `json:"Problem"`
		} `json:"schemas"`
	} `json:"components"`
}

// TestOpenAPIMatchesRoutes: every route the server has is in the document, and every
// operation of the document is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
	}
	var inDoc, inCode []string
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			inDoc = append(inDoc, strings.ToUpper(method)+" "+path)
		}
	}
	for _, rt := range (&Server{}).routes() {
		inCode = append(inCode, rt.method+" "+rt.path)
	}
	slices.Sort(inDoc)
	slices.Sort(inCode)
	for _, r := range inCode {
		if !slices.Contains(inDoc, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, r := range inDoc {
		if !slices.Contains(inCode, r) {
			t.Errorf("openapi.json has %s, which no route serves", r)
		}
	}
	if len(inCode) < 8 {
		t.Fatalf("only %d routes: the check proves little", len(inCode))
	}
}

// TestOpenAPIListsEveryProblemType: the document's Problem type enum is the server's kinds.
func TestOpenAPIListsEveryProblemType(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range problemTypes {
		want = append(want, problemURN+p.Type)
		if http.StatusText(p.Status) == "" {
			t.Errorf("%s has status %d", p.Type, p.Status)
		}
	}
	got := slices.Clone(doc.Comps.Schemas.Problem.Properties.Type.Enum)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("openapi.json problem types\n got %v\nwant %v", got, want)
	}
}
