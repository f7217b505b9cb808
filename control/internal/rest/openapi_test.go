package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/control/internal/artifact"
	"github.com/weirflow/weir/control/internal/dispatcher"
	"github.com/weirflow/weir/control/internal/jobmaster"
	"github.com/weirflow/weir/internal/leader"
)

// openapiDoc decodes the embedded document with numbers kept exact.
func openapiDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(OpenAPI))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if dec.More() {
		t.Fatal("openapi.json has data after the document")
	}
	return doc
}

func TestOpenAPIDocument(t *testing.T) {
	doc := openapiDoc(t)
	if v, _ := doc["openapi"].(string); !regexp.MustCompile(`^3\.0\.\d+$`).MatchString(v) {
		t.Fatalf("openapi %q, want 3.0.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info == nil || info["title"] == "" || info["version"] != Version {
		t.Fatalf("info %v: want a title and version %q", info, Version)
	}
	if paths, _ := doc["paths"].(map[string]any); len(paths) == 0 {
		t.Fatal("no paths")
	}
}

// TestOpenAPIDocsCopy keeps docs/openapi.json identical to the served one.
func TestOpenAPIDocsCopy(t *testing.T) {
	docs, err := os.ReadFile("../../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(docs, OpenAPI) {
		t.Fatal("docs/openapi.json differs from control/internal/rest/openapi.json: cp control/internal/rest/openapi.json docs/")
	}
}

// contract is every operation of the REST API, path parameters as {}.
var contract = []string{
	"GET /health",
	"GET /whoami",
	"GET /config",
	"GET /overview",
	"POST /wasm/upload",
	"GET /wasm",
	"DELETE /wasm/{}",
	"GET /wasm/{}/module",
	"POST /wasm/{}/run",
	"GET /jobs",
	"GET /jobs/overview",
	"GET /jobs/{}",
	"PATCH /jobs/{}",
	"GET /jobs/{}/config",
	"GET /jobs/{}/exceptions",
	"GET /jobs/{}/checkpoints",
	"GET /jobs/{}/checkpoints/config",
	"GET /jobs/{}/checkpoints/details/{}",
	"POST /jobs/{}/savepoints",
	"GET /jobs/{}/savepoints/{}",
	"POST /jobs/{}/stop",
	"GET /taskmanagers",
	"GET /taskmanagers/{}",
	"GET /metrics",
	"GET /events",
	"GET /openapi.json",
	"GET /cluster/leader",
	"POST /cluster/leader/resign",
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// operations lists the document's operations as "METHOD /path" (the
// path as written) with their objects.
func operations(doc map[string]any) map[string]map[string]any {
	ops := map[string]map[string]any{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				ops[strings.ToUpper(method)+" "+path] = op.(map[string]any)
			}
		}
	}
	return ops
}

func TestOpenAPIContract(t *testing.T) {
	documented := map[string]bool{}
	for op := range operations(openapiDoc(t)) {
		documented[pathParam.ReplaceAllString(op, "{}")] = true
	}
	for _, op := range contract {
		if !documented[op] {
			t.Errorf("%s is not documented", op)
		}
	}
	for op := range documented {
		if !slices.Contains(contract, op) {
			t.Errorf("%s is documented but not in the contract", op)
		}
	}
}

// resolve follows a local $ref ("#/components/...").
func resolve(t *testing.T, doc map[string]any, v map[string]any) map[string]any {
	t.Helper()
	for range 10 {
		ref, ok := v["$ref"].(string)
		if !ok {
			return v
		}
		var cur any = doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, _ := cur.(map[string]any)
			cur = m[part]
		}
		next, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("$ref %q does not resolve", ref)
		}
		v = next
	}
	t.Fatal("$ref chain too long")
	return nil
}

// TestOpenAPIWellFormed checks what a reader of the document relies on:
// references resolve, required properties exist, path parameters are
// declared, operation ids are unique, and every operation describes its
// errors with the JSON error body.
func TestOpenAPIWellFormed(t *testing.T) {
	doc := openapiDoc(t)
	var walk func(string, any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["$ref"]; ok {
				resolve(t, doc, v)
			}
			if req, ok := v["required"].([]any); ok {
				props, _ := v["properties"].(map[string]any)
				for _, r := range req {
					if _, ok := props[r.(string)]; !ok {
						t.Errorf("%s: required %q is not among the properties", at, r)
					}
				}
			}
			for k, e := range v {
				walk(at+"/"+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s/%d", at, i), e)
			}
		}
	}
	walk("#", doc)

	errorBody := resolve(t, doc, map[string]any{"$ref": "#/components/schemas/ErrorBody"})
	ids := map[string]string{}
	for name, op := range operations(doc) {
		id, _ := op["operationId"].(string)
		if id == "" || ids[id] != "" {
			t.Errorf("%s: operationId %q missing or also used by %s", name, id, ids[id])
		}
		ids[id] = name

		declared := map[string]bool{}
		path := strings.SplitN(name, " ", 2)[1]
		item := doc["paths"].(map[string]any)[path].(map[string]any)
		params, _ := item["parameters"].([]any)
		opParams, _ := op["parameters"].([]any)
		for _, p := range append(params, opParams...) {
			p := resolve(t, doc, p.(map[string]any))
			if p["in"] == "path" {
				declared[p["name"].(string)] = true
			}
		}
		for _, m := range pathParam.FindAllString(path, -1) {
			if !declared[strings.Trim(m, "{}")] {
				t.Errorf("%s: path parameter %s is not declared", name, m)
			}
		}

		responses, _ := op["responses"].(map[string]any)
		if _, ok := responses["default"]; !ok {
			t.Errorf("%s: no default (error) response", name)
		}
		for code, r := range responses {
			if code != "default" && code < "400" {
				continue
			}
			content, _ := resolve(t, doc, r.(map[string]any))["content"].(map[string]any)
			media, _ := content["application/json"].(map[string]any)
			schema, _ := media["schema"].(map[string]any)
			if schema == nil || fmt.Sprint(resolve(t, doc, schema)) != fmt.Sprint(errorBody) {
				t.Errorf("%s: response %s is not the JSON error body", name, code)
			}
		}
	}
}

// validate checks a JSON value against an OpenAPI 3.0 schema: the subset
// the document uses ($ref, allOf, type, nullable, properties, required,
// additionalProperties, items, enum, pattern, minimum, maximum, minItems).
func validate(t *testing.T, doc, schema map[string]any, v any, at string) []string {
	t.Helper()
	schema = resolve(t, doc, schema)
	if v == nil {
		if schema["nullable"] == true {
			return nil
		}
		return []string{at + ": null"}
	}
	if all, ok := schema["allOf"].([]any); ok {
		var errs []string
		for _, sub := range all {
			errs = append(errs, validate(t, doc, sub.(map[string]any), v, at)...)
		}
		return errs
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		bad("%v is not one of %v", v, enum)
	}
	num := func(k string) (float64, bool) {
		n, ok := schema[k].(json.Number)
		f, _ := n.Float64()
		return f, ok
	}
	switch typ := schema["type"]; typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			bad("%T, want an object", v)
			break
		}
		props, _ := schema["properties"].(map[string]any)
		req, _ := schema["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				bad("required %q missing", r)
			}
		}
		for k, e := range obj {
			if p, ok := props[k].(map[string]any); ok {
				errs = append(errs, validate(t, doc, p, e, at+"."+k)...)
			} else if add, ok := schema["additionalProperties"].(map[string]any); ok {
				errs = append(errs, validate(t, doc, add, e, at+"."+k)...)
			} else if schema["additionalProperties"] == false {
				bad("property %q is not in the schema", k)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			bad("%T, want an array", v)
			break
		}
		if n, ok := num("minItems"); ok && float64(len(arr)) < n {
			bad("%d items, want at least %v", len(arr), n)
		}
		for i, e := range arr {
			errs = append(errs, validate(t, doc, schema["items"].(map[string]any), e, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			bad("%T, want a string", v)
			break
		}
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			bad("%q does not match %s", s, p)
		}
	case "integer", "number":
		n, ok := v.(json.Number)
		if !ok {
			bad("%T, want a number", v)
			break
		}
		if _, err := n.Int64(); typ == "integer" && err != nil {
			bad("%s is not an integer", n)
		}
		f, _ := n.Float64()
		if m, ok := num("minimum"); ok && f < m {
			bad("%s is below %v", n, m)
		}
		if m, ok := num("maximum"); ok && f > m {
			bad("%s is above %v", n, m)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("%T, want a boolean", v)
		}
	default:
		bad("schema type %v is not handled by this test", typ)
	}
	return errs
}

func decodeExact(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return v
}

func schemaRef(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

// TestOpenAPIValidator checks this test's validator on hostile values, so
// that the schema checks below mean something.
func TestOpenAPIValidator(t *testing.T) {
	doc := openapiDoc(t)
	good := `{"jid": "0123456789abcdef0123456789abcdef", "name": "wc", "state": "RUNNING", "start-time": 1, "end-time": -1,
		"duration": 5, "last-modification": 1, "tasks": {"total": 1, "created": 0, "deploying": 0, "running": 1, "finished": 0, "canceling": 0, "canceled": 0, "failed": 0}}`
	if errs := validate(t, doc, schemaRef("JobOverview"), decodeExact(t, []byte(good)), "job"); len(errs) > 0 {
		t.Fatalf("a good overview is refused: %v", errs)
	}
	for _, tc := range []struct{ from, to, want string }{
		{`"state": "RUNNING"`, `"state": "SLEEPING"`, "is not one of"},
		{`"jid": "0123456789abcdef0123456789abcdef"`, `"jid": "../x"`, "does not match"},
		{`"duration": 5`, `"duration": 5.5`, "is not an integer"},
		{`"duration": 5`, `"duration": "5"`, "want a number"},
		{`"name": "wc", `, ``, `required "name" missing`},
		{`"running": 1`, `"running": -1`, "is below 0"},
		{`"name": "wc"`, `"name": null`, "null"},
		{`"name": "wc"`, `"name": "wc", "extra": 1`, `property "extra" is not in the schema`},
		{`"tasks": {`, `"tasks": [{`, "want an object"},
	} {
		bad := strings.Replace(good, tc.from, tc.to, 1)
		if tc.from == `"tasks": {` {
			bad = strings.Replace(bad, `"failed": 0}}`, `"failed": 0}]}`, 1)
		}
		errs := validate(t, doc, schemaRef("JobOverview"), decodeExact(t, []byte(bad)), "job")
		if !strings.Contains(strings.Join(errs, "\n"), tc.want) {
			t.Errorf("%s → %s: errors %v, want %q", tc.from, tc.to, errs, tc.want)
		}
	}
}

// TestOpenAPIViews checks the schemas against the JSON of the JobMaster's
// and the Dispatcher's own views.
func TestOpenAPIViews(t *testing.T) {
	doc := openapiDoc(t)
	jid := "0123456789abcdef0123456789abcdef"
	metrics := jobmaster.Metrics{ReadBytes: 10, ReadRecords: 1, WriteBytes: 20, WriteRecords: 2, Busy: 300, Idle: 600, Backpressured: 100}
	counts := map[string]int{"CREATED": 0, "DEPLOYING": 0, "RUNNING": 2, "FINISHED": 0, "CANCELING": 0, "CANCELED": 0, "FAILED": 0}
	details := jobmaster.Details{
		ID: jid, Name: "wordcount", State: "RUNNING", StartTime: 1000, EndTime: -1, Duration: 500, Now: 1500,
		MaxParallelism: 128, Attempt: 0, Timestamps: map[string]int64{"CREATED": 900, "RUNNING": 1000}, StatusCounts: counts,
		Vertices: []jobmaster.VertexView{{
			ID: "v1", Name: "Source: file -> Map: split", Parallelism: 2, MaxParallelism: 128, Status: "RUNNING",
			StartTime: 1000, EndTime: -1, Duration: 500, Tasks: counts, Metrics: metrics,
			Subtasks: []jobmaster.SubtaskView{{Subtask: 0, Status: "RUNNING", TaskManagerID: "tm-1", Metrics: metrics}, {Subtask: 1, Status: "DEPLOYING", Metrics: metrics}},
		}},
		Plan: jobmaster.PlanView{ID: jid, Name: "wordcount", Nodes: []jobmaster.PlanNode{
			{ID: "v1", Description: "Source: file -> Map: split", Parallelism: 2, Operator: "source"},
			{ID: "v2", Description: "Sink: file", Parallelism: 1, Operator: "sink", Inputs: []jobmaster.PlanInput{{ID: "v1", ShipStrategy: "HASH"}}},
		}},
	}
	root, ts := "wasm: guest trapped: unreachable", int64(1400)
	var exceptions jobmaster.ExceptionsView
	exceptions.RootException, exceptions.Timestamp = &root, &ts
	exceptions.History.Entries = []jobmaster.Exception{
		{Name: "TaskFailure", Stacktrace: root, Timestamp: ts, TaskName: "v1#0", Location: "127.0.0.1:6124", TaskManagerID: "tm-1", GuestLogs: []string{"hello"}},
		{Name: "TaskFailure", Stacktrace: root, Timestamp: ts - 100, TaskName: "v1#1", Location: "127.0.0.1:6124", TaskManagerID: "tm-1"},
	}
	var none jobmaster.ExceptionsView
	none.History.Entries = []jobmaster.Exception{}
	overview := jobmaster.Overview{ID: jid, Name: "wordcount", State: "FINISHED", StartTime: 1000, EndTime: 2000, Duration: 1000, LastModified: 2000}
	overview.Tasks.Total, overview.Tasks.Finished = 2, 2
	tm := dispatcher.TaskManagerView{ID: "tm-1", Path: "127.0.0.1:6122", DataAddress: "127.0.0.1:6121", TimeSinceLastHeartbeat: 120,
		SlotsNumber: 2, FreeSlots: 1, Hardware: dispatcher.Hardware{CPUCores: 2, PhysicalMemory: 8 << 30}}
	tmDetails := tm
	tmDetails.Slots = []dispatcher.SlotView{{Index: 0, JobID: jid, ExecutionIDs: []string{jid + "-v1-0-0"}}, {Index: 1, ExecutionIDs: []string{}}}
	cluster := struct {
		Version string `json:"weir-version"`
		Uptime  int64  `json:"uptime-ms"`
		dispatcher.Counts
	}{Version: Version, Uptime: 5, Counts: dispatcher.Counts{TaskManagers: 1, SlotsTotal: 2, SlotsAvailable: 1, JobsRunning: 1}}

	for _, tc := range []struct {
		schema string
		value  any
	}{
		{"JobDetails", details},
		{"JobExceptions", exceptions},
		{"JobExceptions", none},
		{"JobsOverview", map[string]any{"jobs": []jobmaster.Overview{overview}}},
		{"TaskManagerList", map[string]any{"taskmanagers": []dispatcher.TaskManagerView{tm}}},
		{"TaskManagerDetails", tmDetails},
		{"ClusterOverview", cluster},
	} {
		data, err := json.Marshal(tc.value)
		if err != nil {
			t.Fatal(err)
		}
		if errs := validate(t, doc, schemaRef(tc.schema), decodeExact(t, data), tc.schema); len(errs) > 0 {
			t.Errorf("%s:\n%s", tc.schema, strings.Join(errs, "\n"))
		}
	}
}

// responseSchema finds the schema the document gives for an answer.
func responseSchema(t *testing.T, doc map[string]any, op string, status int) map[string]any {
	t.Helper()
	o, ok := operations(doc)[op]
	if !ok {
		t.Fatalf("%s is not documented", op)
	}
	responses := o["responses"].(map[string]any)
	r, ok := responses[fmt.Sprint(status)].(map[string]any)
	if !ok {
		r = responses["default"].(map[string]any)
	}
	content := resolve(t, doc, r)["content"].(map[string]any)
	return content["application/json"].(map[string]any)["schema"].(map[string]any)
}

// TestOpenAPIServerAnswers checks the answers of the endpoints served
// today, errors included, against the document.
func TestOpenAPIServerAnswers(t *testing.T) {
	doc := openapiDoc(t)
	srv, _ := newServer(t, 1<<20)
	minimal := testdata(t, "minimal.wasm")
	upload := func(name string, content []byte) func() (io.Reader, string) {
		return func() (io.Reader, string) { return multipartBody(t, "wasmfile", name, content) }
	}
	for _, tc := range []struct {
		method, path, op string
		body             func() (io.Reader, string)
		status           int
	}{
		{"GET", "/config", "GET /config", nil, 200},
		{"POST", "/wasm/upload", "POST /wasm/upload", upload("minimal.wasm", minimal), 200},
		{"POST", "/wasm/upload", "POST /wasm/upload", upload("x.wasm", []byte("not wasm")), 400},
		{"POST", "/wasm/upload", "POST /wasm/upload", upload("big.wasm", make([]byte, 3<<20)), 413},
		{"GET", "/wasm", "GET /wasm", nil, 200},
		{"DELETE", "/wasm/" + strings.Repeat("0", 64), "DELETE /wasm/{wasmid}", nil, 404},
		{"GET", "/cluster/leader", "GET /cluster/leader", nil, 200},
		{"POST", "/cluster/leader/resign", "POST /cluster/leader/resign", nil, 202},
	} {
		var body io.Reader
		ctype := ""
		if tc.body != nil {
			body, ctype = tc.body()
		}
		req, err := http.NewRequest(tc.method, srv.URL+tc.path, body)
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("%s %s: %d, want %d: %s", tc.method, tc.path, resp.StatusCode, tc.status, data)
		}
		schema := responseSchema(t, doc, tc.op, resp.StatusCode)
		if errs := validate(t, doc, schema, decodeExact(t, data), tc.op); len(errs) > 0 {
			t.Errorf("%s %s → %d:\n%s", tc.method, tc.path, resp.StatusCode, strings.Join(errs, "\n"))
		}
	}
}

// TestOpenAPIRoutes keeps the contract equal to the routes the server
// registers (besides the dashboard: / and /assets/*).
func TestOpenAPIRoutes(t *testing.T) {
	store, err := artifact.Open(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Artifacts: store, Jobs: dispatcher.New(dispatcher.Config{}), Cluster: fakeCluster{}})
	var routes []string
	for _, r := range s.e.Routes() {
		if r.Path == "/" || r.Path == "/assets/*" || strings.HasPrefix(r.Name, "github.com/labstack") {
			continue
		}
		routes = append(routes, r.Method+" "+regexp.MustCompile(`:[a-z]+`).ReplaceAllString(r.Path, "{}"))
	}
	slices.Sort(routes)
	want := slices.Clone(contract)
	slices.Sort(want)
	if !slices.Equal(routes, want) {
		t.Errorf("server routes %v\ncontract      %v", routes, want)
	}
}

type fakeCluster struct{}

func (fakeCluster) ID() string        { return "jm-a" }
func (fakeCluster) ClusterID() string { return "default" }
func (fakeCluster) Election(context.Context) (leader.View, error) {
	return leader.View{Leader: &leader.Member{Info: leader.Info{ID: "jm-a", RESTAddress: "127.0.0.1:1", RPCAddress: "127.0.0.1:2", Since: time.UnixMilli(1700000000000)}, Epoch: 7},
		Standbys: []leader.Member{{Info: leader.Info{ID: "jm-b", RESTAddress: "127.0.0.1:3", RPCAddress: "127.0.0.1:4"}, Epoch: 9}}}, nil
}
func (fakeCluster) Resign(context.Context) (int64, error) { return 7, nil }
func (fakeCluster) History(context.Context) ([]leader.Term, error) {
	return []leader.Term{
		{Info: leader.Info{ID: "jm-a", RESTAddress: "127.0.0.1:1", RPCAddress: "127.0.0.1:2", Since: time.UnixMilli(1700000000000)}, Epoch: 7},
		{Info: leader.Info{ID: "jm-b", RESTAddress: "127.0.0.1:3", RPCAddress: "127.0.0.1:4", Since: time.UnixMilli(1699999990000)}, Epoch: 3, Until: time.UnixMilli(1700000000000)},
	}, nil
}
