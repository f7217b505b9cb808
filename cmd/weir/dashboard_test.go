package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestClusterDashboardAPI checks, on real processes, what the dashboard
// reads beyond Flink's REST: the page itself, live updates as server-sent
// events with record rates and TaskManager memory, and a job's configuration.
func TestClusterDashboardAPI(t *testing.T) {
	c := startCluster(t, 1, 2)
	resp, err := http.Get(c.rest + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(page), "Weir") {
		t.Fatalf("GET /: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}

	id := c.upload(t, exampleModule(t, "./stream"))
	args := []string{"--count", "0", "--source-rate", "400"}
	argJSON, _ := json.Marshal(args)
	job := c.submit(t, id, `{"parallelism": 2, "programArgs": `+string(argJSON)+`}`)
	t.Cleanup(func() { c.weir(t, "cancel", job) })

	var cfg struct {
		Name      string `json:"name"`
		Execution struct {
			Parallelism int `json:"job-parallelism"`
		} `json:"execution-config"`
		Module struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"module"`
		ProgramArgs []string `json:"programArgs"`
	}
	if st := c.get(t, "/jobs/"+job+"/config", &cfg); st != http.StatusOK || cfg.Name != "stream" || cfg.Execution.Parallelism != 2 ||
		cfg.Module.ID != id || cfg.Module.Name != "stream.wasm" || !slices.Equal(cfg.ProgramArgs, args) {
		t.Fatalf("GET /jobs/%s/config: %d %+v", job, st, cfg)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.rest+"/events?watch=/jobs/"+job+"&watch=/taskmanagers", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	type rates struct {
		In  float64 `json:"read-records-per-second"`
		Out float64 `json:"write-records-per-second"`
	}
	var sawRate, sawMemory bool
	events := 0
	r := bufio.NewReader(resp.Body)
	for !sawRate || !sawMemory {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d events (rates seen %v, memory seen %v): %v", events, sawRate, sawMemory, err)
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		events++
		var u struct {
			Path   string          `json:"path"`
			Status int             `json:"status"`
			Body   json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal([]byte(data), &u); err != nil || u.Status != http.StatusOK {
			t.Fatalf("event %q: %v", data, err)
		}
		switch u.Path {
		case "/jobs/" + job:
			var d struct {
				Vertices []struct {
					Name     string `json:"name"`
					Metrics  rates  `json:"metrics"`
					Subtasks []struct {
						Metrics rates `json:"metrics"`
					} `json:"subtasks"`
				} `json:"vertices"`
			}
			if err := json.Unmarshal(u.Body, &d); err != nil {
				t.Fatal(err)
			}
			for _, v := range d.Vertices {
				// The source emits 400 rows per second, rebalanced over two map subtasks.
				if strings.Contains(v.Name, "scale") && v.Metrics.In > 200 && v.Metrics.In < 800 && len(v.Subtasks) == 2 &&
					v.Subtasks[0].Metrics.In > 0 && v.Subtasks[1].Metrics.In > 0 {
					sawRate = true
				}
			}
		case "/taskmanagers":
			var l struct {
				TaskManagers []struct {
					Memory struct {
						RSS, HeapInUse, Wasm int64
					} `json:"memory"`
					TasksRunning int `json:"tasksRunning"`
				} `json:"taskmanagers"`
			}
			if err := json.Unmarshal(u.Body, &l); err != nil {
				t.Fatal(err)
			}
			if len(l.TaskManagers) == 1 {
				m := l.TaskManagers[0]
				sawMemory = m.Memory.RSS > 1<<20 && m.Memory.HeapInUse > 0 && m.Memory.Wasm > 0 && m.TasksRunning >= 3
			}
		}
	}
}
