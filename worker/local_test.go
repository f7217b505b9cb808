package worker

import (
	"context"
	"errors"
	"testing"

	"github.com/weirflow/weir/abi"
)

func TestRunLinearRefusesOtherShapes(t *testing.T) {
	cases := map[string]string{
		"no sink":   `{"weir_plan":1,"name":"a","nodes":[{"id":"s","kind":"source","connector":"sequence"},{"id":"m","kind":"map","function":"f","inputs":["s"]}]}`,
		"fan out":   `{"weir_plan":1,"name":"a","nodes":[{"id":"s","kind":"source","connector":"sequence"},{"id":"a","kind":"sink","connector":"print","inputs":["s"]},{"id":"b","kind":"sink","connector":"print","inputs":["s"]}]}`,
		"two heads": `{"weir_plan":1,"name":"a","nodes":[{"id":"s","kind":"source","connector":"sequence"},{"id":"t","kind":"source","connector":"sequence"},{"id":"k","kind":"sink","connector":"print","inputs":["s","t"]}]}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := abi.DecodePlan([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if err := RunLinear(context.Background(), nil, p, LocalOptions{}); !errors.Is(err, ErrNotLinear) {
				t.Fatalf("got %v", err)
			}
		})
	}
}
