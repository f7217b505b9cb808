package rest

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/weirflow/weir/control/internal/jobmaster"
)

func (s *Server) checkpoints(c echo.Context) error {
	jm, err := s.jobs.Job(c.Param("id"))
	if err != nil {
		return badRequest(err)
	}
	return c.JSON(http.StatusOK, jm.Checkpoints())
}

func (s *Server) checkpointConfig(c echo.Context) error {
	jm, err := s.jobs.Job(c.Param("id"))
	if err != nil {
		return badRequest(err)
	}
	cfg := jm.CheckpointConfig()
	mode := "exactly_once"
	if !cfg.Enabled() {
		mode = "disabled"
	}
	return c.JSON(http.StatusOK, map[string]any{
		"mode": mode, "interval": cfg.Interval.Milliseconds(), "timeout": cfg.Timeout.Milliseconds(),
		"min_pause": cfg.MinPause.Milliseconds(), "max_concurrent": 1,
		"tolerable_failed_checkpoints": cfg.Tolerable, "retained": cfg.Retained,
	})
}

func (s *Server) checkpointDetails(c echo.Context) error {
	jm, err := s.jobs.Job(c.Param("id"))
	if err != nil {
		return badRequest(err)
	}
	id, err := strconv.ParseInt(c.Param("cid"), 10, 64)
	if err != nil {
		return badRequest(fmt.Errorf("checkpoint id %q is not a number", c.Param("cid")))
	}
	d, ok := jm.CheckpointDetails(id)
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no checkpoint %d in the job's history", id))
	}
	return c.JSON(http.StatusOK, d)
}

// savepoint is POST /jobs/:id/savepoints.
func (s *Server) savepoint(c echo.Context) error {
	jm, err := s.jobs.Job(c.Param("id"))
	if err != nil {
		return badRequest(err)
	}
	var req savepointRequest
	if err := decodeBody(c, &req, `"target-directory" and "cancel-job"`); err != nil {
		return err
	}
	return s.triggerSavepoint(c, jm, "target-directory", req.Target, false, req.Cancel)
}

// triggerSavepoint takes a savepoint (with stop, a stop-with-savepoint)
// into target, the request's field, once the allowed directories allow it,
// and answers with its trigger id.
func (s *Server) triggerSavepoint(c echo.Context, jm *jobmaster.JobMaster, field, target string, stop, cancel bool) error {
	if err := s.jobs.CheckSavepointPath(field, target); err != nil {
		return badRequest(err)
	}
	trigger, err := jm.TriggerSavepoint(target, stop, cancel)
	if err != nil {
		return echo.NewHTTPError(http.StatusConflict, err.Error())
	}
	return c.JSON(http.StatusAccepted, map[string]string{"request-id": trigger})
}

// savepointRequest is the body of POST /jobs/:id/savepoints.
type savepointRequest struct {
	Target string `json:"target-directory"`
	Cancel bool   `json:"cancel-job"`
}

// stopRequest is the body of POST /jobs/:id/stop.
type stopRequest struct {
	Target string `json:"targetDirectory"`
	Drain  bool   `json:"drain"`
}

// stop is POST /jobs/:id/stop: stop-with-savepoint.
func (s *Server) stop(c echo.Context) error {
	jm, err := s.jobs.Job(c.Param("id"))
	if err != nil {
		return badRequest(err)
	}
	var req stopRequest
	if err := decodeBody(c, &req, `"targetDirectory" and "drain"`); err != nil {
		return err
	}
	return s.triggerSavepoint(c, jm, "targetDirectory", req.Target, true, false)
}

// savepointStatus is GET /jobs/:id/savepoints/:triggerid.
func (s *Server) savepointStatus(c echo.Context) error {
	jm, err := s.jobs.Job(c.Param("id"))
	if err != nil {
		return badRequest(err)
	}
	st, ok := jm.Savepoint(c.Param("trigger"))
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("unknown savepoint trigger %q", c.Param("trigger")))
	}
	op := map[string]any{}
	if st.Location != "" {
		op["location"] = st.Location
	}
	if st.Failure != "" {
		op["failure-cause"] = map[string]string{"stack-trace": st.Failure}
	}
	return c.JSON(http.StatusOK, map[string]any{"status": map[string]string{"id": st.Status}, "operation": op})
}
