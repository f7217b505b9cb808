package taskrun

import (
	"testing"

	"github.com/weirflow/weir/worker/internal/task"
)

func TestValve(t *testing.T) {
	type ev struct {
		kind string // "wm", "idle", "batch", "end"
		ch   int
		wm   int64
	}
	cases := []struct {
		name   string
		events []ev
		want   []int64 // the combined watermark after each event (task.NoWatermark: none yet)
	}{
		{"minimum across channels",
			[]ev{{"wm", 0, 10}, {"wm", 1, 5}, {"wm", 1, 20}, {"wm", 0, 30}},
			[]int64{task.NoWatermark, 5, 10, 20}},
		{"never backwards",
			[]ev{{"wm", 0, 10}, {"wm", 1, 10}, {"wm", 0, 3}},
			[]int64{task.NoWatermark, 10, 10}},
		{"idle channel does not hold back",
			[]ev{{"wm", 0, 10}, {"idle", 1, 0}, {"wm", 0, 15}},
			[]int64{task.NoWatermark, 10, 15}},
		{"idle channel active again with a batch",
			[]ev{{"idle", 1, 0}, {"wm", 0, 10}, {"batch", 1, 0}, {"wm", 0, 20}, {"wm", 1, 12}},
			[]int64{task.NoWatermark, 10, 10, 10, 12}},
		{"a channel ends after the maximum",
			[]ev{{"wm", 0, 10}, {"wm", 1, task.MaxWatermark}, {"end", 1, 0}, {"wm", 0, 20}},
			[]int64{task.NoWatermark, 10, 10, 20}},
		{"a channel stopped without the maximum holds back",
			[]ev{{"wm", 0, 10}, {"wm", 1, 5}, {"end", 1, 0}, {"wm", 0, 20}},
			[]int64{task.NoWatermark, 5, 5, 5}},
		{"all idle holds",
			[]ev{{"wm", 0, 10}, {"wm", 1, 10}, {"idle", 0, 0}, {"idle", 1, 0}},
			[]int64{task.NoWatermark, 10, 10, 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newValve(2)
			for i, e := range tc.events {
				switch e.kind {
				case "wm":
					v.watermark(e.ch, e.wm)
				case "idle":
					v.watermark(e.ch, WatermarkIdle)
				case "batch":
					v.active(e.ch)
				case "end":
					v.end(e.ch)
				}
				if v.current != tc.want[i] {
					t.Fatalf("after event %d (%+v): watermark %d, want %d", i, e, v.current, tc.want[i])
				}
			}
		})
	}
}
