package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 document of the routes (openapi.json); TestOpenAPIMatchesRoutes
// keeps the two equal.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ *call) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPI) // a client gone mid-answer is not our error
}
