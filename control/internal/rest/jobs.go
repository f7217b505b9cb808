package rest

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weirflow/weir/control/internal/dispatcher"
	"github.com/weirflow/weir/control/internal/jobmaster"
)

// module serves a stored module's bytes, as uploaded.
func (s *Server) module(c echo.Context) error {
	bin, err := s.artifacts.Bytes(c.Param("id"))
	if err != nil {
		return badRequest(err)
	}
	return c.Blob(http.StatusOK, "application/wasm", bin)
}

// run submits a job from a stored module.
func (s *Server) run(c echo.Context) error {
	var req dispatcher.RunRequest
	if err := decodeBody(c, &req, "parallelism, programArgs and config"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 30*time.Second)
	defer cancel()
	id, err := s.jobs.Submit(ctx, c.Param("id"), req)
	if err != nil {
		return badRequest(err)
	}
	return c.JSON(http.StatusOK, map[string]string{"jobid": id})
}

func (s *Server) listJobs(c echo.Context) error {
	type job struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	jobs := []job{}
	for _, jm := range s.jobs.Jobs() {
		jobs = append(jobs, job{ID: jm.ID(), Status: string(jm.State())})
	}
	return c.JSON(http.StatusOK, map[string]any{"jobs": jobs})
}

func (s *Server) jobsOverview(c echo.Context) error {
	jobs := []jobmaster.Overview{}
	for _, jm := range s.jobs.Jobs() {
		jobs = append(jobs, jm.Overview())
	}
	return c.JSON(http.StatusOK, map[string]any{"jobs": jobs})
}

func (s *Server) job(c echo.Context) error {
	jm, err := s.jobs.Job(c.Param("id"))
	if err != nil {
		return badRequest(err)
	}
	return c.JSON(http.StatusOK, jm.Details())
}

// patchJob is Flink's PATCH /jobs/:id?mode=cancel.
func (s *Server) patchJob(c echo.Context) error {
	jm, err := s.jobs.Job(c.Param("id"))
	if err != nil {
		return badRequest(err)
	}
	if mode := c.QueryParam("mode"); mode != "cancel" {
		return badRequest(fmt.Errorf("mode %q is not supported; use mode=cancel", mode))
	}
	if err := jm.Cancel(); err != nil {
		return badRequest(err)
	}
	return c.JSON(http.StatusAccepted, map[string]any{})
}

func (s *Server) exceptions(c echo.Context) error {
	jm, err := s.jobs.Job(c.Param("id"))
	if err != nil {
		return badRequest(err)
	}
	return c.JSON(http.StatusOK, jm.Exceptions())
}

func (s *Server) taskManagers(c echo.Context) error {
	tms := s.jobs.TaskManagers()
	if tms == nil {
		tms = []dispatcher.TaskManagerView{}
	}
	return c.JSON(http.StatusOK, map[string]any{"taskmanagers": tms})
}

func (s *Server) taskManager(c echo.Context) error {
	tm, ok := s.jobs.TaskManager(c.Param("id"))
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("unknown TaskManager %q", c.Param("id")))
	}
	return c.JSON(http.StatusOK, tm)
}

// jobConfig is GET /jobs/:id/config.
func (s *Server) jobConfig(c echo.Context) error {
	jm, err := s.jobs.Job(c.Param("id"))
	if err != nil {
		return badRequest(err)
	}
	return c.JSON(http.StatusOK, jm.Config())
}
