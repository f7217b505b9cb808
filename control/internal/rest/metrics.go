package rest

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// metrics serves the Prometheus text exposition format (version 0.0.4).
func (s *Server) metrics(c echo.Context) error {
	var b bytes.Buffer
	counts := s.jobs.Counts()
	gauge := func(name, help string, v int) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	gauge("weir_taskmanagers", "Registered TaskManagers.", counts.TaskManagers)
	gauge("weir_slots_total", "Task slots offered by registered TaskManagers.", counts.SlotsTotal)
	gauge("weir_slots_available", "Free task slots.", counts.SlotsAvailable)
	b.WriteString("# HELP weir_jobs Jobs by state.\n# TYPE weir_jobs gauge\n")
	for _, st := range []struct {
		state string
		n     int
	}{{"running", counts.JobsRunning}, {"finished", counts.JobsFinished}, {"canceled", counts.JobsCanceled}, {"failed", counts.JobsFailed}} {
		fmt.Fprintf(&b, "weir_jobs{state=%q} %d\n", st.state, st.n)
	}
	type series struct {
		name, help, typ string
		lines           []string
	}
	task := []*series{
		{name: "weir_task_records_in_total", help: "Records a subtask read.", typ: "counter"},
		{name: "weir_task_records_out_total", help: "Records a subtask wrote.", typ: "counter"},
		{name: "weir_task_bytes_in_total", help: "Bytes a subtask read.", typ: "counter"},
		{name: "weir_task_bytes_out_total", help: "Bytes a subtask wrote.", typ: "counter"},
		{name: "weir_task_busy_ms_per_second", help: "Milliseconds per second a subtask was busy.", typ: "gauge"},
		{name: "weir_task_idle_ms_per_second", help: "Milliseconds per second a subtask waited for input.", typ: "gauge"},
		{name: "weir_task_backpressured_ms_per_second", help: "Milliseconds per second a subtask waited for downstream credit.", typ: "gauge"},
	}
	for _, jm := range s.jobs.Jobs() {
		d := jm.Details()
		if d.State != "RUNNING" {
			continue
		}
		for _, v := range d.Vertices {
			for _, st := range v.Subtasks {
				labels := fmt.Sprintf("{job_id=%s,job_name=%s,vertex=%s,subtask=\"%d\"}", quote(d.ID), quote(d.Name), quote(v.Name), st.Subtask)
				m := st.Metrics
				for i, val := range []int64{m.ReadRecords, m.WriteRecords, m.ReadBytes, m.WriteBytes, m.Busy, m.Idle, m.Backpressured} {
					task[i].lines = append(task[i].lines, task[i].name+labels+" "+strconv.FormatInt(val, 10))
				}
			}
		}
	}
	for _, t := range task {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", t.name, t.help, t.name, t.typ)
		for _, l := range t.lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return c.Blob(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", b.Bytes())
}

// quote escapes a Prometheus label value.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
