// Package rest is the JobManager's REST API with echo, in Flink's vocabulary
// and JSON field names where Flink has them. Bad input always gets a 4xx
// status with a JSON body {"errors": ["..."]}, never a 500 or a crash.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weirflow/weir/control/internal/artifact"
	"github.com/weirflow/weir/control/internal/auth"
	"github.com/weirflow/weir/control/internal/dispatcher"
	"github.com/weirflow/weir/control/internal/jobmaster"
	"github.com/weirflow/weir/control/internal/planread"
	"github.com/weirflow/weir/ui"
)

// Version is reported by /config and /overview.
const Version = "0.1.0-dev"

// Server serves the REST API.
type Server struct {
	e         *echo.Echo
	artifacts *artifact.Store
	plans     *planread.Reader
	jobs      *dispatcher.Dispatcher
	cluster   Cluster
	log       *slog.Logger
	started   time.Time
	// done ends the live streams (GET /events) when this API's term ends.
	done          <-chan struct{}
	eventInterval time.Duration
	scheme        string // of the REST URLs in GET /cluster/leader
}

// Config wires the server to the JobManager's parts.
type Config struct {
	Artifacts *artifact.Store
	Plans     *planread.Reader
	// Jobs serves the job and TaskManager endpoints; without it only the
	// artifact endpoints exist.
	Jobs *dispatcher.Dispatcher
	// Cluster serves /cluster/leader and its resign action.
	Cluster Cluster
	// Scheme is the REST APIs' URL scheme in GET /cluster/leader: "http"
	// (the default) or "https".
	Scheme string
	// Forward, when set, makes this a standby's API: GET /cluster/leader
	// and /openapi.json are answered here, every other request is handed to
	// Forward (which passes it on to the leader).
	Forward http.Handler
	// Done, when closed, ends the live streams of GET /events: the
	// leader's API closes it when its term ends, so that dashboards
	// reconnect and reach the next leader.
	Done <-chan struct{}
	// EventInterval is how often GET /events looks for changes; 1 s when 0.
	EventInterval time.Duration
	// MaxRequestBytes bounds request bodies but uploads' (default 1 MiB).
	MaxRequestBytes int64
	// SubmitRate and SubmitBurst limit uploads, runs, savepoints and stops
	// per client (token, else address): the average per second and the
	// burst (defaults DefaultSubmitRate and DefaultSubmitBurst; a negative
	// rate turns the limit off).
	SubmitRate  float64
	SubmitBurst int
	Logger      *slog.Logger
}

// DefaultMaxRequestBytes bounds request bodies but uploads'.
const DefaultMaxRequestBytes = 1 << 20

// ForwardedHeader marks a request a standby passed on to the leader; its
// value is the standby's id.
const ForwardedHeader = "X-Weir-Forwarded-By"

// errorBody is the JSON of every error response.
type errorBody struct {
	Errors []string `json:"errors"`
}

// New returns a server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{e: echo.New(), artifacts: cfg.Artifacts, plans: cfg.Plans, jobs: cfg.Jobs, cluster: cfg.Cluster, log: cfg.Logger, started: time.Now(), done: cfg.Done, eventInterval: cfg.EventInterval}
	if s.eventInterval <= 0 {
		s.eventInterval = time.Second
	}
	if s.scheme = cfg.Scheme; s.scheme == "" {
		s.scheme = "http"
	}
	s.e.HideBanner, s.e.HidePort = true, true
	s.e.HTTPErrorHandler = s.handleError
	if s.cluster != nil {
		s.e.GET("/cluster/leader", s.clusterLeader)
	}
	leading := cfg.Forward == nil
	s.e.GET("/health", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"status": "ok", "leading": leading})
	})
	s.e.GET("/whoami", whoami)
	s.e.GET("/openapi.json", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, OpenAPI) })
	// Every JobManager serves the dashboard itself; a standby's dashboard
	// reaches the leader through the forwarded API.
	dashboard := echo.WrapHandler(ui.Handler())
	s.e.GET("/", dashboard)
	s.e.GET("/assets/*", dashboard)
	if cfg.Forward != nil {
		s.e.Any("/*", echo.WrapHandler(cfg.Forward))
		return s
	}
	if s.cluster != nil {
		s.e.POST("/cluster/leader/resign", s.resign)
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.SubmitRate == 0 {
		cfg.SubmitRate = DefaultSubmitRate
	}
	if cfg.SubmitBurst <= 0 {
		cfg.SubmitBurst = DefaultSubmitBurst
	}
	submit := func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	if cfg.SubmitRate > 0 {
		submit = newLimiter(cfg.SubmitRate, cfg.SubmitBurst).middleware
	}
	// Multipart framing adds a little to the module itself.
	uploadLimit := bodyLimit(cfg.Artifacts.MaxSize() + 1<<20)
	s.e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		limited := bodyLimit(cfg.MaxRequestBytes)(next)
		return func(c echo.Context) error {
			if c.Path() == "/wasm/upload" {
				return next(c)
			}
			return limited(c)
		}
	})
	s.e.GET("/config", s.config)
	s.e.GET("/overview", s.overview)
	s.e.POST("/wasm/upload", s.upload, uploadLimit, submit)
	s.e.GET("/wasm", s.listWasm)
	s.e.DELETE("/wasm/:id", s.deleteWasm)
	s.e.GET("/wasm/:id/module", s.module)
	if s.jobs != nil {
		s.e.POST("/wasm/:id/run", s.run, submit)
		s.e.GET("/jobs", s.listJobs)
		s.e.GET("/jobs/overview", s.jobsOverview)
		s.e.GET("/jobs/:id", s.job)
		s.e.PATCH("/jobs/:id", s.patchJob)
		s.e.GET("/jobs/:id/config", s.jobConfig)
		s.e.GET("/jobs/:id/exceptions", s.exceptions)
		s.e.GET("/jobs/:id/checkpoints", s.checkpoints)
		s.e.GET("/jobs/:id/checkpoints/config", s.checkpointConfig)
		s.e.GET("/jobs/:id/checkpoints/details/:cid", s.checkpointDetails)
		s.e.POST("/jobs/:id/savepoints", s.savepoint, submit)
		s.e.GET("/jobs/:id/savepoints/:trigger", s.savepointStatus)
		s.e.POST("/jobs/:id/stop", s.stop, submit)
		s.e.GET("/taskmanagers", s.taskManagers)
		s.e.GET("/taskmanagers/:id", s.taskManager)
		s.e.GET("/metrics", s.metrics)
	}
	s.e.GET("/events", s.events)
	return s
}

// whoami is GET /whoami: whether auth is on and the role of the request's
// token (everyone is a submitter with auth off), for the dashboard to offer
// only what the token may do.
func whoami(c echo.Context) error {
	role, on := auth.RoleOf(c.Request())
	if !on {
		role = auth.Submitter
	}
	return c.JSON(http.StatusOK, map[string]any{"auth": on, "role": role.String()})
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.e }

// bodyLimit refuses request bodies over n bytes with 413.
func bodyLimit(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > n {
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d", r.ContentLength, n))
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, n)
			return next(c)
		}
	}
}

func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, err.Error()
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		status, msg = he.Code, fmt.Sprint(he.Message)
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
	}
	if status >= 500 {
		s.log.Error("REST request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
	}
	_ = c.JSON(status, errorBody{Errors: []string{msg}})
}

// badRequest maps the errors of user input to 4xx.
func badRequest(err error) error {
	status := http.StatusBadRequest
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, artifact.ErrNotFound), errors.Is(err, dispatcher.ErrUnknownJob):
		status = http.StatusNotFound
	case errors.Is(err, jobmaster.ErrTerminal), errors.Is(err, artifact.ErrFull), errors.Is(err, dispatcher.ErrTooManyJobs):
		status = http.StatusConflict
	case errors.Is(err, artifact.ErrTooLarge), errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, dispatcher.ErrNotLeader):
		status = http.StatusServiceUnavailable
	}
	return echo.NewHTTPError(status, err.Error())
}

// decodeBody reads an optional JSON object into v, refusing unknown fields.
func decodeBody(c echo.Context, v any, what string) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return badRequest(fmt.Errorf("reading the request body: %w", err))
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest(fmt.Errorf("the body must be a JSON object with %s: %w", what, err))
	}
	return nil
}

func (s *Server) config(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{
		"refresh-interval": 1000,
		"timezone-name":    time.Local.String(),
		"weir-version":     Version,
		"abi-versions":     []int{1},
		"features":         map[string]bool{"web-submit": true, "web-cancel": true},
		"max-upload-bytes": s.artifacts.MaxSize(),
	})
}

func (s *Server) overview(c echo.Context) error {
	type overview struct {
		Version string `json:"weir-version"`
		Uptime  int64  `json:"uptime-ms"`
		dispatcher.Counts
	}
	o := overview{Version: Version, Uptime: time.Since(s.started).Milliseconds()}
	if s.jobs != nil {
		o.Counts = s.jobs.Counts()
	}
	return c.JSON(http.StatusOK, o)
}

// upload stores a module from the multipart field "wasmfile" after checking
// it against the ABI (without running it).
func (s *Server) upload(c echo.Context) error {
	fh, err := c.FormFile("wasmfile")
	if err != nil {
		return badRequest(fmt.Errorf("a multipart form with the module in field %q is required: %w", "wasmfile", err))
	}
	f, err := fh.Open()
	if err != nil {
		return badRequest(err)
	}
	defer f.Close()
	info, err := s.artifacts.Put(f, fh.Filename)
	if err != nil {
		return badRequest(err)
	}
	bin, err := s.artifacts.Bytes(info.ID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 30*time.Second)
	defer cancel()
	if err := s.plans.Validate(ctx, info.Name, bin); err != nil {
		_ = s.artifacts.Delete(info.ID)
		return badRequest(fmt.Errorf("not a valid Weir module: %w", err))
	}
	return c.JSON(http.StatusOK, map[string]any{
		"id": info.ID, "sha256": info.ID, "filename": info.Name, "size": info.Size,
		"uploaded": info.Uploaded.UnixMilli(), "status": "success",
	})
}

func (s *Server) listWasm(c echo.Context) error {
	list, err := s.artifacts.List()
	if err != nil {
		return err
	}
	files := make([]map[string]any, 0, len(list))
	for _, a := range list {
		files = append(files, map[string]any{"id": a.ID, "name": a.Name, "size": a.Size, "uploaded": a.Uploaded.UnixMilli()})
	}
	return c.JSON(http.StatusOK, map[string]any{"files": files})
}

func (s *Server) deleteWasm(c echo.Context) error {
	if err := s.artifacts.Delete(c.Param("id")); err != nil {
		return badRequest(err)
	}
	return c.JSON(http.StatusOK, map[string]any{})
}
