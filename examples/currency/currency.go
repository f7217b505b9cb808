package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DefaultRate is the USD→EUR rate of Nexmark query 1.
const DefaultRate = 0.908

// DefaultAuctions are the auction ids selected by Nexmark query 2.
const DefaultAuctions = "1007,1020,2001,2019,2087"

// IDSet is a set of auction ids, kept sorted.
type IDSet []int64

// ParseIDs parses comma-separated integers ("1007, 1020") into a set.
func ParseIDs(s string) (IDSet, error) {
	var ids IDSet
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("auction id %q is not an integer", f)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no auction ids in %q", s)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// Has reports whether id is in the set.
func (s IDSet) Has(id int64) bool {
	_, ok := slices.BinarySearch(s, id)
	return ok
}

// ParseRate parses a conversion rate, DefaultRate if s is empty.
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultRate, nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r <= 0 {
		return 0, fmt.Errorf("rate %q is not a positive number", s)
	}
	return r, nil
}
