package main

import "testing"

func TestParseTimeTakesOnlyRealDates(t *testing.T) {
	for _, bad := range []string{"0000-01-01T00:00:00.000Z", "2026-02-30T00:00:00.000Z", "2026-01-01T00:00:00Z"} {
		if _, err := parseTime(bad); err == nil {
			t.Errorf("parseTime(%q) accepted", bad)
		}
	}
	for _, good := range []string{"0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"} {
		if _, err := parseTime(good); err != nil {
			t.Errorf("parseTime(%q): %v", good, err)
		}
	}
}
