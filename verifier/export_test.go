package main

// Exports from the audit review of the anchor file and the chain (testdata/, written with
// FaceGate's own test writer and key): each attack must be a finding, and the anchor file must
// never lose what it kept.

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func verifyExport(t *testing.T, export, anchor string) int {
	t.Helper()
	args := []string{"-keys", "testdata/keyset.json", "-schemas", "testdata/schemas.json", "-now", "2026-11-26T13:00:00.000Z"}
	if anchor != "" {
		args = append(args, "-anchor", anchor)
	}
	return exportCommand(append(args, filepath.Join("testdata", export)))
}

func keptPartitions(t *testing.T, anchor string) ([]int64, bool) {
	t.Helper()
	raw, err := os.ReadFile(anchor)
	if err != nil {
		t.Fatal(err)
	}
	var a anchorFile
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	var parts []int64
	for _, h := range a.Partitions {
		parts = append(parts, h.Partition)
	}
	return parts, a.Completeness != nil
}

func TestADowngradedExportNeitherPassesNorWipesTheAnchor(t *testing.T) {
	anchor := filepath.Join(t.TempDir(), "kept.json")
	if code := verifyExport(t, "f1_genuine.jsonl", anchor); code != 0 {
		t.Fatalf("the genuine log: exit %d", code)
	}
	kept, _ := os.ReadFile(anchor)
	for _, export := range []string{"f1_downgraded.jsonl", "f1_cutback.jsonl", "f1_dropped.jsonl"} {
		if code := verifyExport(t, export, anchor); code != 1 {
			t.Errorf("%s against the kept anchor: exit %d, want 1", export, code)
		}
		if now, _ := os.ReadFile(anchor); !bytes.Equal(now, kept) {
			t.Fatalf("%s rewrote the anchor file", export)
		}
	}
	if parts, note := keptPartitions(t, anchor); !slices.Equal(parts, []int64{0, 1, 2}) || !note {
		t.Errorf("kept %v, completeness %v", parts, note)
	}
}

func TestTheAnchorIsMergedWithWhatWasKept(t *testing.T) {
	anchor := filepath.Join(t.TempDir(), "kept.json")
	if code := verifyExport(t, "f1_genuine.jsonl", anchor); code != 0 {
		t.Fatalf("the genuine log: exit %d", code)
	}
	raw, _ := os.ReadFile(anchor)
	ks, _ := LoadKeySet(mustRead(t, "testdata/keyset.json"))
	kept, findings := loadAnchors(raw, ks)
	if kept == nil || findings != nil {
		t.Fatalf("the kept anchor: %v", findings)
	}
	v := &logVerifier{ks: ks, kept: kept, newest: map[int64]signedCP{}} // a run that re-established nothing
	a := v.keep()
	var parts []int64
	for _, h := range a.Partitions {
		parts = append(parts, h.Partition)
	}
	if !slices.Equal(parts, []int64{0, 1, 2}) || a.Completeness == nil || *a.Completeness != *kept.Completeness {
		t.Errorf("keep() after a run that re-established nothing: %v, completeness %v", parts, a.Completeness != nil)
	}
}

func TestAPartitionTheAnchorMissesIsStillHeldToTheKeptCompletenessNote(t *testing.T) {
	anchor := filepath.Join(t.TempDir(), "kept.json")
	if code := verifyExport(t, "f4_run1.jsonl", anchor); code != 0 {
		t.Fatalf("partition 1 without checkpoints: exit %d", code)
	}
	if code := verifyExport(t, "f4_fork.jsonl", anchor); code != 1 {
		t.Errorf("partition 1 forked and re-signed, grown from 5 to 8: exit %d, want 1", code)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestRecordsWithAnEmptyHashAreInTheChainCheck(t *testing.T) {
	if code := verifyExport(t, "f5_genuine.jsonl", ""); code != 0 {
		t.Fatalf("the genuine log: exit %d", code)
	}
	if code := verifyExport(t, "f5_forged.jsonl", ""); code != 1 {
		t.Errorf("seq 1..3 forged with hash \"\" below the first frontier: exit %d, want 1", code)
	}
	anchor := filepath.Join(t.TempDir(), "kept.json")
	if code := verifyExport(t, "f5_genuine.jsonl", anchor); code != 0 {
		t.Fatalf("the genuine log: exit %d", code)
	}
	if code := verifyExport(t, "f5_forged.jsonl", anchor); code != 1 {
		t.Errorf("the same, below the kept anchor: exit %d, want 1", code)
	}
}

func TestAPartitionOutsideTheTopicIsAFinding(t *testing.T) {
	if code := verifyExport(t, "negative_partition.jsonl", ""); code != 1 {
		t.Errorf("partition -1 (a copy of partition 1's records): exit %d, want 1", code)
	}
	dir := t.TempDir()
	header := `{"format": "facegate-audit-export/v1", "topic": "facegate.audit", "exported_at": "2026-11-26T12:01:00.000Z", "partitions": 1, "log_start_offsets": [0], "end_offsets": [0]}` + "\n"
	export := filepath.Join(dir, "beyond.jsonl")
	var lines []byte
	for _, line := range bytes.Split(mustRead(t, "testdata/f1_genuine.jsonl"), []byte("\n"))[1:] {
		lines = append(append(lines, line...), '\n')
	}
	if err := os.WriteFile(export, append([]byte(header), lines...), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-keys", "testdata/keyset.json", "-schemas", "testdata/schemas.json", "-now", "2026-11-26T13:00:00.000Z", export}
	if code := exportCommand(args); code != 1 {
		t.Errorf("partitions 1 and 2 in an export of a topic of 1 partition: exit %d, want 1", code)
	}
}

// 0.1.0 checkpoints (testdata/v0_*.jsonl): a genuine 0.1.0 log verifies; every checkpoint's note
// and frontier blanked, the completeness notes deleted and a partition dropped is not a 0.1.0 log
// (its records were written after 0.1.0), so it needs a completeness note (section 6); and a v0
// signature dated after its key's revocation counts for nothing (section 7).
func TestV0CheckpointsAreJudged(t *testing.T) {
	if code := verifyExport(t, "v0_released.jsonl", ""); code != 0 {
		t.Errorf("a genuine 0.1.0 log with its v0 checkpoint: exit %d, want 0", code)
	}
	if code := verifyExport(t, "v0_downgraded.jsonl", ""); code != 1 {
		t.Errorf("checkpoints downgraded to v0, notes deleted, partition 2 dropped: exit %d, want 1", code)
	}
	args := []string{"-keys", "testdata/keyset_revoked.json", "-schemas", "testdata/schemas.json", "-now", "2026-11-26T13:00:00.000Z", "testdata/v0_released.jsonl"}
	if code := exportCommand(args); code != 1 {
		t.Errorf("a v0 checkpoint signed after its key's revocation: exit %d, want 1", code)
	}
	// With -max-age, a genuine 0.1.0 log's v0 checkpoint covers its records (no v1 signature anywhere).
	args = []string{"-keys", "testdata/keyset.json", "-schemas", "testdata/schemas.json", "-now", "2026-11-26T12:01:00.000Z", "-max-age", "30s", "testdata/v0_released.jsonl"}
	if code := exportCommand(args); code != 0 {
		t.Errorf("a genuine 0.1.0 log, -max-age: exit %d, want 0", code)
	}
}

func TestV0MessageIsPythonJSON(t *testing.T) {
	// What python3 -c 'import json; print(json.dumps("a\"\\\n\x01é😀\x7f"))' prints: DEL escaped too.
	if got := pyString("a\"\\\n\x01é😀\x7f"); got != `"a\"\\\n\u0001\u00e9\ud83d\ude00\u007f"` {
		t.Errorf("pyString: %s", got)
	}
}
