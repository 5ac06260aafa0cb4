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

func TestMembersAreReadExactlyOnce(t *testing.T) {
	for _, bad := range []string{`{"a":1,"a":2}`, `{"A":1}`, `{"a":1,"b":2}`, `{"a":1} {}`, `[1]`} {
		if _, err := members([]byte(bad), "a"); err == nil {
			t.Errorf("members(%s) accepted", bad)
		}
	}
	if m, err := members([]byte(`{"a": {"A": 1}}`), "a"); err != nil || string(m["a"]) != `{"A": 1}` {
		t.Errorf("members: %v %s", err, m["a"])
	}
	var r Receipt
	if err := decodeStrict([]byte(`{"format":"f","event_id":null}`), &r, "format", "event_id"); err == nil {
		t.Error("decodeStrict accepted a null member")
	}
}
