package rest

import _ "embed" // for OpenAPI

// OpenAPI is the OpenAPI 3.0 document of this API, served at
// GET /openapi.json. docs/openapi.json is a copy (a test keeps them equal).
//
//go:embed openapi.json
var OpenAPI []byte
